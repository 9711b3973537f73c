// Drives the real netflux 3.0.0 client (dist/netflux.cjs.js) against the gateway's sigver endpoint:
// alice creates a group through signaling, bob joins it (his WebRTC offer and answer travel as sigver
// content through the gateway), they exchange messages over the data channel, carol joins as well,
// then everyone leaves. Prints one JSON event per line; exits non-zero on failure.
// Usage: node interop.mjs ws://127.0.0.1:PORT/sigver KEY [OTHER_URL]
// With OTHER_URL (another node of a cluster), bob and carol signal through it and alice through the first.
import Module from 'node:module';

// netflux requires 'uws' (its WebSocket) and 'wrtc' (its WebRTC): both are native modules that no longer
// build on current Node. Maintained stand-ins with the same API are loaded in their place: @roamhq/wrtc,
// and ws with its message and close events delivered as separate tasks, as a browser (and uws) does.
// (ws emits a frame that arrives with the handshake in the same task as 'open', before the promise
// continuation in which netflux attaches its onmessage handler; a browser never does.)
const require = Module.createRequire(import.meta.url);
const WebSocket = require('ws');
class TaskQueuedWebSocket extends WebSocket {
  emit(event, ...args) {
    if (event === 'message' || event === 'close') {
      setImmediate(() => super.emit(event, ...args));
      return true;
    }

    return super.emit(event, ...args);
  }
}

const load = Module._load;
Module._load = function (request, ...rest) {
  if (request === 'uws') {
    return TaskQueuedWebSocket;
  }

  return load.call(this, request === 'wrtc' ? '@roamhq/wrtc' : request, ...rest);
};
// netflux assigns global.crypto, which current Node defines with a getter only.
Object.defineProperty(globalThis, 'crypto', { value: globalThis.crypto, writable: true, configurable: true });
const { WebGroup, WebGroupState, SignalingState } = require('netflux');

const [url, key, otherUrl = url] = process.argv.slice(2);
const emit = (event, fields = {}) => console.log(JSON.stringify({ event, ...fields }));
const deadline = setTimeout(() => { emit('timeout'); process.exit(2); }, 25_000);

function until(what, condition) {
  return new Promise((resolve) => {
    const check = setInterval(() => {
      if (condition()) { clearInterval(check); resolve(); }
    }, 20);
  }).then(() => emit(what));
}

function peer(name, signalingServer = url) {
  const group = new WebGroup({ signalingServer, rtcConfiguration: { iceServers: [] }, autoRejoin: false });
  const received = [];
  group.onMessage = (id, data) => received.push({ from: id, data });
  group.onSignalingStateChange = (state) => emit('signaling', { peer: name, state: SignalingState[state] });
  return { name, group, received };
}

try {
  const alice = peer('alice');
  alice.group.join(key);
  await until('alice-first', () => alice.group.state === WebGroupState.JOINED && alice.group.signalingState === SignalingState.STABLE);

  const bob = peer('bob', otherUrl);
  bob.group.join(key);
  await until('bob-joined', () => bob.group.state === WebGroupState.JOINED && bob.group.members.includes(alice.group.myId)
    && alice.group.members.includes(bob.group.myId));
  await until('bob-stable', () => bob.group.signalingState === SignalingState.STABLE);

  alice.group.send('alice→bob');
  bob.group.send('bob→alice');
  await until('exchanged', () => alice.received.length === 1 && bob.received.length === 1);
  emit('messages', { alice: alice.received[0].data, bob: bob.received[0].data, fromAlice: bob.received[0].from === alice.group.myId });

  const carol = peer('carol', otherUrl);
  carol.group.join(key);
  await until('carol-joined', () => carol.group.state === WebGroupState.JOINED && carol.group.members.length === 3
    && alice.group.members.length === 3 && bob.group.members.length === 3);
  carol.group.send('carol→all');
  await until('carol-heard', () => alice.received.length === 2 && bob.received.length === 2);
  emit('group', { id: alice.group.id, same: alice.group.id === bob.group.id && bob.group.id === carol.group.id, members: alice.group.members.length });

  for (const p of [carol, bob, alice]) {
    p.group.leave();
  }

  await until('left', () => [alice, bob, carol].every((p) => p.group.state === WebGroupState.LEFT
    && p.group.signalingState === SignalingState.CLOSED));
  clearTimeout(deadline);
  emit('done');
  process.exit(0);
} catch (err) {
  emit('error', { message: String(err && err.stack || err) });
  process.exit(1);
}
