// Drives the real sockjs-client 1.6.1 (the transport videre-client uses: `new SockJS(url)`) against a
// gateway's Rooms route, whose SockJS URL is the first argument (http://host:port/echo). Speaks as
// videre-client does: connect on open, ping, broadcast object Payloads (an ICE offer and answer), and
// a raw WebSocket peer shares the room. Further arguments spread the clients over several gateways of a
// cluster: alice, bob, carol and bob's second socket take the URLs in turn. Prints one JSON line per observed
// event; exits 0 when the whole scenario passed. Every step waits for the event it needs; nothing waits on a timer except the deadline.
import SockJS from "sockjs-client"
import WebSocket from "ws"

const urls = process.argv.slice(2)
const url = urls[0]
const urlOf = i => urls[i % urls.length]
const deadline = setTimeout(() => fail("scenario timed out"), 25_000)
const log = event => console.log(JSON.stringify(event))
function fail(reason) {
  log({ event: "failed", reason })
  process.exit(1)
}
function check(condition, reason) {
  if (!condition) fail(reason)
}

/** A client that keeps every packet it receives, and resolves waits for the next one matching. */
function track(socket, name) {
  const packets = []
  const waiters = []
  socket.onmessage = message => {
    const packet = JSON.parse(message.data)
    log({ event: "packet", to: name, header: packet.Header, payload: packet.Payload })
    const index = waiters.findIndex(w => w.predicate(packet))
    if (index >= 0) waiters.splice(index, 1)[0].resolve(packet)
    else packets.push(packet)
  }
  return {
    socket,
    next(eventName, userId) {
      const predicate = p => p.Header.Event === eventName && (userId === undefined || p.Header.UserId === userId)
      const index = packets.findIndex(predicate)
      if (index >= 0) return Promise.resolve(packets.splice(index, 1)[0])
      return new Promise(resolve => waiters.push({ predicate, resolve }))
    },
    send(eventName, userId, roomId, payload) {
      socket.send(JSON.stringify({ Header: { Event: eventName, UserId: userId, RoomId: roomId }, Payload: payload }))
    },
  }
}

const opened = socket => new Promise(resolve => { socket.onopen = () => resolve() })
const closed = socket => new Promise(resolve => { socket.onclose = e => resolve({ code: e.code, reason: e.reason }) })
const room = "room-" + Math.random().toString(36).slice(2)

async function sockJsClient(name, at = url) {
  const socket = new SockJS(at)
  await opened(socket)
  log({ event: "open", name, transport: socket.transport })
  check(socket.transport === "websocket", `${name} uses ${socket.transport}, not websocket`)
  return track(socket, name)
}

const alice = await sockJsClient("alice")
const aliceHeartbeat = new Promise(resolve => alice.socket.addEventListener("heartbeat", () => resolve(), { once: true }))
alice.send("connect", "alice", room, JSON.stringify({}))
const aliceConnect = await alice.next("connect", "alice")
check(JSON.parse(aliceConnect.Payload) === true, "alice is not the initiator")

const bob = await sockJsClient("bob", urlOf(1))
bob.send("connect", "bob", room, JSON.stringify({}))
const bobConnect = await bob.next("connect", "bob")
check(JSON.parse(bobConnect.Payload) === false, "bob should not be the initiator")
await alice.next("connect", "bob")

// A raw WebSocket peer (ws) in the same room.
const carolSocket = new WebSocket(urlOf(2).replace(/^http/, "ws") + "/websocket")
await new Promise(resolve => carolSocket.addEventListener("open", resolve, { once: true }))
const carol = track(carolSocket, "carol")
carol.send("connect", "carol", room, "{}")
await carol.next("connect", "carol")
await alice.next("connect", "carol")
await bob.next("connect", "carol")

alice.send("ping", "alice", room, JSON.stringify({}))
const ping = await alice.next("ping", "alice")
log({ event: "ping", users: JSON.parse(ping.Payload) })

const offer = { Type: "Ice Offer", IcePacket: { type: "offer", sdp: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n" } }
alice.send("broadcast", "alice", room, offer)
const offerAtBob = await bob.next("broadcast", "alice")
const offerAtCarol = await carol.next("broadcast", "alice")
await alice.next("broadcast", "alice")
check(JSON.stringify(offerAtBob.Payload) === JSON.stringify(offer), "bob got the offer changed")
check(JSON.stringify(offerAtCarol.Payload) === JSON.stringify(offer), "carol got the offer changed")
bob.send("broadcast", "bob", room, { Type: "Ice Answer", IcePacket: { type: "answer", sdp: "v=0\r\n" } })
const answer = await alice.next("broadcast", "bob")
log({ event: "exchanged", offer: offerAtBob.Payload.Type, answer: answer.Payload.Type })

await aliceHeartbeat
log({ event: "heartbeat" })

// A second socket for bob replaces the first, which the relay closes with 4409.
const bobClosed = closed(bob.socket)
const bob2 = await sockJsClient("bob2", urlOf(3))
bob2.send("connect", "bob", room, JSON.stringify({}))
const replaced = await bobClosed
log({ event: "replaced", code: replaced.code, reason: replaced.reason })
check(JSON.parse((await bob2.next("connect", "bob")).Payload) === false, "bob's second socket should not be the initiator")
await alice.next("disconnect", "bob")
await alice.next("connect", "bob")

// Bob (the second socket) leaves by closing; the room is told.
bob2.socket.close()
const left = await alice.next("disconnect", "bob")
log({ event: "left", payload: left.Payload })

carolSocket.close()
alice.socket.close()
clearTimeout(deadline)
log({ event: "done" })
process.exit(0)
