#!/usr/bin/env python3
"""Load tool of scripts/bench-hold.sh: many device connections to one Palisade server, cheaply.

Reads pre-signed check-ins (`palisade-bench checkin-sign`: one "authorization<TAB>body" line
each, single use) and, by mode:

  hold   opens COUNT connections (CONCURRENCY connecting at once), sends one check-in on each
         (signed with --wait-seconds, so the server holds it) and keeps them open until SIGTERM
         or SIGINT; an answer before that is counted (it should not come while the wait lasts).
  warm   sends COUNT check-ins over CONCURRENCY keep-alive connections, one after another on
         each, so every device has checked in once (the server's per-device caches are warm)
         without COUNT connections ever being open together.
  idle   opens COUNT connections (TLS handshake done when https) and sends nothing, until
         SIGTERM or SIGINT: the cost of a connection without a request. The server closes them
         after its idle timeout (60 s).

Progress goes to --status FILE (JSON, rewritten each half second: connected, sent, answered by
status, errors) for the shell to poll, and the final counts to stdout. Python's asyncio costs
far less CPU per connection than the real agent cycle of `palisade simulate`, which is what
lets one machine hold 20,000 connections while the server is measured.
"""
import argparse
import asyncio
import collections
import json
import os
import signal
import ssl
import sys
import time
import urllib.parse


class Counts:
    def __init__(self):
        self.connected = 0
        self.sent = 0
        self.answered = collections.Counter()
        self.errors = collections.Counter()
        self.error_samples = []

    def error(self, what):
        self.errors[type(what).__name__] += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(repr(what))

    def as_json(self):
        return {"connected": self.connected, "sent": self.sent, "answered": dict(self.answered),
                "errors": sum(self.errors.values()), "errorKinds": dict(self.errors), "errorSamples": self.error_samples}


def request_bytes(host, line):
    authorization, body = line.rstrip("\n").split("\t", 1)
    body = body.encode()
    return (f"POST /device/v1/check-in HTTP/1.1\r\nHost: {host}\r\nAuthorization: {authorization}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


async def read_response(reader):
    """The status of one HTTP/1.1 response, its body read (Content-Length framing)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["hold", "warm", "idle"])
    parser.add_argument("--url", required=True, help="https://127.0.0.1:PORT (or http:// for --insecure-http)")
    parser.add_argument("--ca", help="CA certificate (PEM) of an https server")
    parser.add_argument("--requests", help="pre-signed check-ins (palisade-bench checkin-sign); not for idle")
    parser.add_argument("--skip", type=int, default=0, help="lines of --requests already used")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--status", help="JSON progress file")
    options = parser.parse_args()

    url = urllib.parse.urlsplit(options.url)
    host, port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
    context = None
    if url.scheme == "https":
        context = ssl.create_default_context(cafile=options.ca)
    lines = []
    if options.mode != "idle":
        with open(options.requests) as file:
            for number, line in enumerate(file):
                if number >= options.skip + options.count:
                    break
                if number >= options.skip:
                    lines.append(line)
        if len(lines) < options.count:
            sys.exit(f"{options.requests} holds {len(lines)} unused requests after --skip {options.skip}, fewer than --count {options.count}")

    counts = Counts()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    writers = []
    connecting = asyncio.Semaphore(options.concurrency)

    async def connect():
        reader, writer = await asyncio.open_connection(host, port, ssl=context, limit=1 << 16)
        counts.connected += 1
        writers.append(writer)
        return reader, writer

    async def hold_one(line):
        try:
            async with connecting:
                reader, writer = await connect()
                writer.write(request_bytes(host, line))
                await writer.drain()
                counts.sent += 1
            counts.answered[await read_response(reader)] += 1
            # As an agent's HTTP client does: close once the server closes (a stopping server
            # closes after its answer; with TLS it waits for our close_notify otherwise).
            await reader.read()
            writer.close()
        except Exception as error:  # counted, reported; one failure must not end the others
            counts.error(error)

    async def idle_one():
        try:
            async with connecting:
                await connect()
        except Exception as error:
            counts.error(error)

    async def warm_worker(queue):
        reader = writer = None
        while queue:
            line = queue.popleft()
            try:
                if writer is None:
                    reader, writer = await connect()
                writer.write(request_bytes(host, line))
                await writer.drain()
                counts.sent += 1
                counts.answered[await read_response(reader)] += 1
            except Exception as error:
                counts.error(error)
                if writer is not None:
                    writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    async def report_progress():
        while True:
            if options.status:
                with open(options.status + ".tmp", "w") as file:
                    json.dump(counts.as_json(), file)
                os.replace(options.status + ".tmp", options.status)
            await asyncio.sleep(0.5)

    progress = asyncio.create_task(report_progress())
    started = time.monotonic()
    if options.mode == "warm":
        queue = collections.deque(lines)
        await asyncio.gather(*(warm_worker(queue) for _ in range(options.concurrency)))
    else:
        tasks = [asyncio.create_task(hold_one(line)) for line in lines] if options.mode == "hold" \
            else [asyncio.create_task(idle_one()) for _ in range(options.count)]
        await stop.wait()
        for task in tasks:
            task.cancel()
        for writer in writers:
            writer.transport.abort()
    progress.cancel()
    summary = counts.as_json()
    summary["seconds"] = round(time.monotonic() - started, 1)
    if options.status:
        with open(options.status, "w") as file:
            json.dump(summary, file)
    print(json.dumps(summary))


if __name__ == "__main__":
    asyncio.run(main())
