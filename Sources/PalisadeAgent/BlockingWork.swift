import NIOPosix

/// Threads for the agent's blocking work (Defender's tools, writing the managed files): its own,
/// so that a tool hanging until its timeout, or many agents starting tools at once (the
/// simulator, the tests), never hold NIO's shared pool, on which a server in the same process
/// runs SQLite. With that pool shared, the full test suite saw 30 s stalls of requests.
enum BlockingWork {
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        return pool
    }()
}
