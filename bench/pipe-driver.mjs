// The pipe scenario's real-client load: P pairs of Node `ws` clients (the library @localfirst/relay's own
// clients use), each message its own ws.send(), as applications send. Relay.Bench starts it, one process
// per measurement, and reads the server's CPU from /proc over exactly the measured phase:
//
//   node pipe-driver.mjs --url ws://127.0.0.1:PORT --pairs 16 --size 1024 --messages 16384 --window 256
//                        [--warmup-seconds 10] [--warmup-messages N] [--timeout-seconds 300]
//   node pipe-driver.mjs --url ws://127.0.0.1:P1,ws://127.0.0.1:P2,... (several gateways of one cluster:
//                        pipe p's A side connects to URL p mod n, its B side to URL p + 1 mod n)
//   node pipe-driver.mjs --floor SOCAT:UPSTREAM,... (the TCP floor: plain `net` sockets through socat,
//                        the same message bytes unframed, one write per message)
//
// Talks JSON lines on stdout (logs go to stderr):
//   {"event":"open"}      every pipe is open (relays: A's WebSocket first, then B's, so nothing is held)
//   {"event":"warmed"}    warm-up over and drained (nothing in flight); waits for "measure" on stdin
//   {"event":"measured", "seconds", "messages", "bytes"}   every measured message arrived and checked;
//                         waits for "close" on stdin (or its end), then closes every socket and exits 0
//   {"event":"error", "message"}   then exits 1: a loss, reorder, corruption, close, socket error or timeout
// Both directions of every pipe stream at once; each keeps at most --window messages in flight (the
// reference server does not push back on a fast sender: a bounded window treats every target the same,
// as the C# generator does). Every message carries its sequence number, a timestamp and its stream id
// in a 20-byte header, then a fixed filler compared in full.
import net from "node:net";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import WebSocket from "ws";

const { values: options } = parseArgs({
  options: {
    url: { type: "string" },
    floor: { type: "string" },
    pairs: { type: "string", default: "16" },
    size: { type: "string", default: "1024" },
    messages: { type: "string", default: "16384" },
    window: { type: "string", default: "256" },
    "warmup-seconds": { type: "string", default: "10" },
    "warmup-messages": { type: "string" },
    "timeout-seconds": { type: "string", default: "300" },
  },
});

const pairs = Number(options.pairs);
const size = Number(options.size);
const measured = Number(options.messages);
const window = Number(options.window);
const warmupSeconds = Number(options["warmup-seconds"]);
const warmupMessages = Number(options["warmup-messages"] ?? Math.max(1, Math.floor(measured / 10)));
const HEADER = 20;
if (!(options.url || options.floor) || !(size >= HEADER) || !(pairs >= 1) || !(measured >= 1) || !(window >= 1)) {
  process.stderr.write("usage: pipe-driver.mjs (--url ws://host:port | --floor socat:upstream,...) [--pairs P] [--size S >= 20] [--messages N] [--window W]\n");
  process.exit(2);
}

const emit = event => process.stdout.write(JSON.stringify(event) + "\n");
let finished = false;
const fail = message => {
  if (finished) return;
  finished = true;
  emit({ event: "error", message });
  process.exit(1);
};
setTimeout(() => fail(`timed out after ${options["timeout-seconds"]} s`), Number(options["timeout-seconds"]) * 1000).unref();

const filler = randomBytes(size);

/**
 * One direction of one pipe. The sender keeps at most `window` messages unacknowledged (the receiver is in
 * this process, so no acknowledgement crosses the wire) and stops at `end`; the receiver checks each one.
 */
class Stream {
  sent = 0;
  received = 0;
  end = Infinity;

  constructor(id, send) {
    this.id = id;
    this.sendMessage = send;
  }

  pump() {
    while (this.sent < this.end && this.sent - this.received < window) {
      this.sendMessage(this.stamp(Buffer.allocUnsafe(size), this.sent++));
    }
  }

  stamp(message, sequence) {
    filler.copy(message, HEADER, HEADER);
    message.writeUInt32LE(sequence % 0x100000000, 0);
    message.writeUInt32LE(Math.floor(sequence / 0x100000000), 4);
    message.writeBigInt64LE(process.hrtime.bigint(), 8);
    message.writeInt32LE(this.id, 16);
    return message;
  }

  receive(message) {
    const sequence = this.received;
    if (message.length !== size) {
      fail(`stream ${this.id}: message ${sequence} has ${message.length} bytes, expected ${size}`);
    } else if (message.readInt32LE(16) !== this.id) {
      fail(`stream ${this.id}: message ${sequence} belongs to stream ${message.readInt32LE(16)}`);
    } else if (message.readUInt32LE(0) + message.readUInt32LE(4) * 0x100000000 !== sequence) {
      fail(`stream ${this.id}: expected message ${sequence}, received ${message.readUInt32LE(0) + message.readUInt32LE(4) * 0x100000000} (lost or reordered)`);
    } else if (message.compare(filler, HEADER, size, HEADER, size) !== 0) {
      fail(`stream ${this.id}: message ${sequence} is corrupted`);
    } else if (sequence >= this.end) {
      fail(`stream ${this.id}: message ${sequence} arrived, but only ${this.end} were sent`);
    }

    this.received++;
    phase.received(this);
    this.pump();
  }
}

/** Cuts a plain TCP byte stream back into messages of the known size (the floor has no framing). */
const messagesOf = (onMessage) => {
  const partial = Buffer.allocUnsafe(size);
  let have = 0;
  return chunk => {
    let offset = 0;
    if (have > 0) {
      const take = Math.min(size - have, chunk.length);
      chunk.copy(partial, have, 0, take);
      have += take;
      offset = take;
      if (have === size) {
        have = 0;
        onMessage(partial);
      }
    }

    for (; chunk.length - offset >= size; offset += size) {
      onMessage(chunk.subarray(offset, offset + size));
    }

    if (offset < chunk.length) {
      chunk.copy(partial, 0, offset);
      have = chunk.length - offset;
    }
  };
};

const closed = what => () => fail(`${what} closed after ${streams.map(s => s.received).reduce((a, b) => a + b, 0)} messages in all`);
const failed = what => error => fail(`${what}: ${error.message}`);

function openWebSocket(url) {
  return new Promise((resolve, reject) => {
    // No permessage-deflate offered: the servers accept none, and the relayed frames stay as sent.
    const socket = new WebSocket(url, { perMessageDeflate: false });
    socket.once("open", () => resolve(socket));
    socket.once("error", reject);
    socket.once("unexpected-response", (_, response) => reject(new Error(`${url}: HTTP ${response.statusCode}`)));
  });
}

function listen(port) {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

async function connectWithRetry(port) {
  // socat listens a moment after it starts: retry refused connections.
  for (;;) {
    try {
      return await new Promise((resolve, reject) => {
        const socket = net.connect(port, "127.0.0.1", () => resolve(socket));
        socket.once("error", reject);
      });
    } catch (error) {
      if (error.code !== "ECONNREFUSED") throw error;
      await new Promise(resolve => setTimeout(resolve, 10));
    }
  }
}

const streams = [];
const sockets = [];

/** Pipe p: stream 2p flows A to B, stream 2p + 1 B to A. */
async function openPipes() {
  if (options.url) {
    const urls = options.url.split(",");
    for (let p = 0; p < pairs; p++) {
      // A first, then B: B's request completes the pairing, so no frame is ever held by the relay.
      const a = await openWebSocket(new URL(`/connection/a${p}/b${p}/doc${p}`, urls[p % urls.length]));
      const b = await openWebSocket(new URL(`/connection/b${p}/a${p}/doc${p}`, urls[(p + 1) % urls.length]));
      const ab = new Stream(2 * p, message => a.send(message));
      const ba = new Stream(2 * p + 1, message => b.send(message));
      b.on("message", (data, isBinary) => (isBinary ? ab.receive(data) : fail(`stream ${ab.id}: message ${ab.received} arrived as text`)));
      a.on("message", (data, isBinary) => (isBinary ? ba.receive(data) : fail(`stream ${ba.id}: message ${ba.received} arrived as text`)));
      for (const [socket, name] of [[a, `pipe ${p} A`], [b, `pipe ${p} B`]]) {
        socket.on("close", closed(name)).on("error", failed(name));
      }
      streams.push(ab, ba);
      sockets.push(a, b);
    }
  } else {
    const relays = options.floor.split(",").map(pair => pair.split(":").map(Number));
    if (relays.length !== pairs) throw new Error(`--floor names ${relays.length} relays for ${pairs} pairs`);
    for (const [p, [socatPort, upstreamPort]] of relays.entries()) {
      const listener = await listen(upstreamPort);
      const accepted = new Promise(resolve => listener.once("connection", resolve));
      const a = await connectWithRetry(socatPort);
      const b = await accepted;
      listener.close();
      const ab = new Stream(2 * p, message => a.write(message));
      const ba = new Stream(2 * p + 1, message => b.write(message));
      b.on("data", messagesOf(message => ab.receive(message)));
      a.on("data", messagesOf(message => ba.receive(message)));
      for (const [socket, name] of [[a, `pipe ${p} A`], [b, `pipe ${p} B`]]) {
        socket.setNoDelay(true);
        socket.on("close", closed(name)).on("error", failed(name));
      }
      streams.push(ab, ba);
      sockets.push(a, b);
    }
  }
}

/**
 * Where the run is. Warm-up: every stream flows for --warmup-seconds and at least --warmup-messages;
 * then every sender stops and the pipes drain, so the measured phase starts from nothing in flight and
 * the server's CPU snapshot lines up with it. Measured: exactly --messages more each way, then done.
 */
const phase = {
  name: "warmup",
  warmedStreams: 0,
  timeUp: false,
  done: 0,
  start: 0n,

  received(stream) {
    if (this.name === "warmup") {
      if (stream.received === warmupMessages) {
        this.warmedStreams++;
        this.maybeStopWarmup();
      }
    } else if (this.name === "draining") {
      if (stream.received === stream.end && ++this.done === streams.length) {
        this.name = "idle";
        emit({ event: "warmed", messages: streams.reduce((n, s) => n + s.received, 0) });
      }
    } else if (this.name === "measuring") {
      if (stream.received === stream.end && ++this.done === streams.length) {
        const seconds = Number(process.hrtime.bigint() - this.start) / 1e9;
        this.name = "over";
        finished = true;
        emit({ event: "measured", seconds, messages: measured * streams.length, bytes: measured * streams.length * size });
        if (stdinClosed) this.close();
      }
    }
  },

  maybeStopWarmup() {
    if (this.name !== "warmup" || !this.timeUp || this.warmedStreams < streams.length) return;
    this.name = "draining";
    this.done = 0;
    for (const s of streams) {
      s.end = s.sent;
      if (s.received === s.end) this.received(s);
    }
  },

  /** After the caller's last CPU snapshot: closing earlier would bill the closes (or, for the floor, socat's exit) to the phase. */
  close() {
    if (this.name !== "over") return;
    this.name = "closed";
    for (const socket of sockets) {
      socket.removeAllListeners("close");
      socket.on("error", () => {});
      if (socket instanceof WebSocket) socket.close(1000); else socket.end();
    }
    setTimeout(() => process.exit(0), 200).unref();
  },

  measure() {
    if (this.name !== "idle") return fail(`"measure" arrived during ${this.name}`);
    this.name = "measuring";
    this.done = 0;
    this.start = process.hrtime.bigint();
    for (const s of streams) {
      s.end = s.received + measured;
    }
    for (const s of streams) {
      s.pump();
    }
  },
};

let stdinClosed = false;
const commands = { measure: () => phase.measure(), close: () => phase.close() };
createInterface({ input: process.stdin })
  .on("line", line => (commands[line.trim()] ?? (() => fail(`unknown command ${JSON.stringify(line)}`)))())
  // Relay.Bench gone: nobody will say "measure" or "close", so do not wait for the timeout.
  .on("close", () => {
    stdinClosed = true;
    if (phase.name === "over") phase.close();
    else if (phase.name !== "measuring") fail("stdin closed before the measured phase");
  });

try {
  await openPipes();
} catch (error) {
  fail(`opening the pipes: ${error.message}`);
}

emit({ event: "open", pairs, streams: streams.length });
setTimeout(() => {
  phase.timeUp = true;
  phase.maybeStopWarmup();
}, warmupSeconds * 1000);
for (const s of streams) {
  s.pump();
}
