// Drives the real @localfirst/relay-client 3.6.2 against a relay whose URL is the first argument.
// Prints one JSON line per observed event; exits 0 when the whole scenario passed. Every step waits for
// the event it needs; nothing waits on a timer except the overall deadline.
//
// The 3.x client is published as ES modules for bundlers (extensionless imports, a JSON import) and uses
// the browser's global WebSocket, so it is bundled here with esbuild, as an app would bundle it, and
// given ws as its WebSocket (Node 20 has no global one).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"
import { WebSocket } from "ws"
import { connectAndExchange as exchange, deadline as scenarioDeadline, log, next } from "../interop-shared/scenario.mjs"

const url = process.argv[2]
const deadline = scenarioDeadline()

globalThis.WebSocket = WebSocket
const here = dirname(fileURLToPath(import.meta.url))
const bundle = await build({
  stdin: { contents: "export { Client } from '@localfirst/relay-client'", resolveDir: here },
  bundle: true,
  platform: "node",
  format: "cjs",
  write: false,
  logLevel: "silent",
})
const folder = mkdtempSync(join(tmpdir(), "relay-client-v3-"))
const bundled = join(folder, "relay-client.cjs")
writeFileSync(bundled, bundle.outputFiles[0].contents)
const { Client } = createRequire(import.meta.url)(bundled)
rmSync(folder, { recursive: true, force: true })

const connectAndExchange = (alice, bob, documentId, round) =>
  exchange(alice, bob, documentId, round, "peer.connect", e => e.userName)

const documentId = "interop-v3-doc"
const alice = new Client({ userName: "alice", url, documentIds: [documentId] })
const bob = new Client({ userName: "bob", url, documentIds: [documentId] })

// Round 1: Join as JSON text, a 3.x-shaped Introduction back, the connection route, messages both ways.
await connectAndExchange(alice, bob, documentId, 1)

// Leave: alice closes her side and sends a JSON Leave; bob's socket to her closes too.
const bobLosesAlice = next(bob, "peer.disconnect", e => e.userName === "alice")
alice.leave(documentId)
await bobLosesAlice
log({ event: "left", round: 1 })

// Round 2: joining again is a new overlap, so both are introduced and connect again.
alice.join(documentId)
await connectAndExchange(alice, bob, documentId, 2)

alice.disconnectServer()
bob.disconnectServer()
clearTimeout(deadline)
log({ event: "done" })
process.exit(0)
