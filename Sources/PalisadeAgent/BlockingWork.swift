import NIOPosix

/// Threads for the agent's blocking work (writing the managed files, with their syncs to disk):
/// its own, so that many agents applying at once (the simulator, the tests) never hold NIO's
/// shared pool, on which a server in the same process runs SQLite. (Defender's tools run as
/// subprocesses awaited without a thread: `CommandRunner`.)
enum BlockingWork {
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        return pool
    }()
}
