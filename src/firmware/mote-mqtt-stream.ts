// Entry of firmware/mote-mqtt-stream.js, a part of the client that a feature requires for one large
// message (stream(client, topic, len, next, ctx, retain): a QoS 0 PUBLISH written in pieces across the
// socket's drains) and releases after it; see src/session/stream.ts.
export { stream } from "../session/stream.js";
