// What the two @localfirst/relay interop scripts (4.x in tests/interop, 3.x in tests/interop-v3) share: one
// JSON line per event on stdout, a failure that exits 1, an overall deadline, and the connect-and-exchange
// round. Plain Node, no packages, so either folder can import it.

/** Prints one event as a JSON line. */
export const log = event => console.log(JSON.stringify(event))

/** Reports the failure and exits 1. */
export function fail(reason) {
  log({ event: "failed", reason })
  process.exit(1)
}

/** Fails the scenario after `ms`; returns the timer to clear when it passes. */
export const deadline = (ms = 20_000) => setTimeout(() => fail("scenario timed out"), ms)

/** Resolves with the next `name` event of `emitter` matching `predicate`. */
export const next = (emitter, name, predicate = () => true) =>
  new Promise(resolve => {
    const handler = payload => {
      if (predicate(payload)) {
        emitter.off(name, handler)
        resolve(payload)
      }
    }
    emitter.on(name, handler)
  })

/** Resolves with the next message on a peer socket, as text. */
export const nextMessage = socket =>
  new Promise(resolve =>
    socket.addEventListener("message", event => resolve(Buffer.from(event.data).toString("utf8")), { once: true }))

/**
 * Both clients get their connect event (`connectEvent`, naming the other by `peerOf`) for `documentId`, then
 * exchange one message each way through the relay.
 */
export async function connectAndExchange(alice, bob, documentId, round, connectEvent, peerOf) {
  const [atAlice, atBob] = await Promise.all([
    next(alice, connectEvent, e => e.documentId === documentId),
    next(bob, connectEvent, e => e.documentId === documentId),
  ])
  log({ event: connectEvent, round, alice: peerOf(atAlice), bob: peerOf(atBob) })
  const aliceGets = nextMessage(atAlice.socket)
  const bobGets = nextMessage(atBob.socket)
  atAlice.socket.send(`alice→bob ${round}`)
  atBob.socket.send(`bob→alice ${round}`)
  log({ event: "exchanged", round, alice: await aliceGets, bob: await bobGets })
}
