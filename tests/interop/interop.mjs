// Drives the real @localfirst/relay 4.2.2 client (dist/Client.js) against a relay whose URL is the
// first argument (alice's; bob's is the second when they differ, as base URLs carrying each one's token do).
// Prints one JSON line per observed event; exits 0 when the whole scenario passed.
// Every step waits for the event it needs; nothing waits on a timer except the overall deadline.
import { Client } from "@localfirst/relay/Client.js"
import { connectAndExchange as exchange, deadline as scenarioDeadline, log, next } from "../interop-shared/scenario.mjs"

const url = process.argv[2]
const bobUrl = process.argv[3] ?? url
const deadline = scenarioDeadline()

const connectAndExchange = (alice, bob, documentId, round) =>
  exchange(alice, bob, documentId, round, "peer-connect", e => e.peerId)

const documentId = "interop-doc"
let alice = new Client({ peerId: "alice", url, documentIds: [documentId] })
const bob = new Client({ peerId: "bob", url: bobUrl, documentIds: [documentId] })

// Round 1: join, introduction, connection, messages both ways.
await connectAndExchange(alice, bob, documentId, 1)

// Leave: alice closes her side; bob's socket to her closes too.
const bobLosesAlice = next(bob, "peer-disconnect", e => e.peerId === "alice")
alice.leave(documentId)
await bobLosesAlice
log({ event: "left", round: 1 })

// Round 2: joining again is a new overlap, so both are introduced and connect again.
alice.join(documentId)
await connectAndExchange(alice, bob, documentId, 2)

// Round 3: alice disconnects from the server entirely and a new client with her peer id reconnects.
const bobLosesAliceAgain = next(bob, "peer-disconnect", e => e.peerId === "alice")
alice.disconnectServer()
await bobLosesAliceAgain
alice = new Client({ peerId: "alice", url, documentIds: [documentId] })
await connectAndExchange(alice, bob, documentId, 3)

alice.disconnectServer()
bob.disconnectServer()
clearTimeout(deadline)
log({ event: "done" })
process.exit(0)
