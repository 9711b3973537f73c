// Preloaded into the reference server (node --import ./bind-loopback.mjs dist/start.js): its
// app.listen(port) binds every interface, and the benchmark must not expose it. This forces every
// listen() of the process onto 127.0.0.1 without touching the package's code.
import net from "node:net";

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const [first] = args;
  if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog][, callback])
    if (typeof args[1] === "string") {
      args[1] = "127.0.0.1";
    } else {
      args.splice(1, 0, "127.0.0.1");
    }
  } else if (first !== null && typeof first === "object" && "port" in first) {
    // listen(options[, callback])
    args[0] = { ...first, host: "127.0.0.1" };
  }
  return listen.apply(this, args);
};
