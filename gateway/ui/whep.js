// WHEP client for the gateway's own media (docs/api.md "Media"): one recvonly video per
// gateway camera, data channels `vitals` and `control`, no trickle ICE (the gateway's aiortc
// has none), so the offer is sent once gathering is complete. When the path dies the caller
// joins again (a new resource) and leaves the old one: aiortc cannot ICE-restart.

const GATHER_TIMEOUT_MS = 5000;

function gatheringComplete(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", done);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, GATHER_TIMEOUT_MS); // send what we have rather than hang
  });
}

/**
 * Join the gateway's media. cameras: GET /api/v1/cameras; iceServers: RTCIceServer list.
 * Returns {pc, resource, vitals, control, videos: MediaStream[], leave()}.
 */
export async function joinMedia({ cameras, iceServers = [], iceTransportPolicy = "all",
                                  headers = {}, endpoint = "/api/v1/whep" }) {
  const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy });
  const videos = cameras.map(() => new MediaStream());
  cameras.forEach(() => pc.addTransceiver("video", { direction: "recvonly" }));
  pc.addEventListener("track", (ev) => {
    const index = pc.getTransceivers().indexOf(ev.transceiver);
    if (index >= 0 && index < videos.length) videos[index].addTrack(ev.track);
  });
  const vitals = pc.createDataChannel("vitals");
  const control = pc.createDataChannel("control");
  await pc.setLocalDescription(await pc.createOffer());
  await gatheringComplete(pc);
  const response = await fetch(endpoint, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/sdp", ...headers },
    body: pc.localDescription.sdp,
  });
  if (response.status !== 201) {
    pc.close();
    const text = await response.text();
    const error = new Error(`WHEP ${response.status}: ${text}`);
    error.status = response.status;
    throw error;
  }
  const resource = response.headers.get("Location");
  await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
  const leave = async () => {
    pc.close();
    if (resource) {
      await fetch(resource, { method: "DELETE", credentials: "same-origin", headers })
        .catch(() => {});
    }
  };
  return { pc, resource, vitals, control, videos, leave };
}

/** Send control requests and resolve each with its ack ({type: "ack", id, ok, ...}). */
export class Control {
  constructor(channel) {
    this.channel = channel;
    this.nextId = 1;
    this.waiting = new Map();
    channel.addEventListener("message", (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      const pending = this.waiting.get(msg.id);
      if (msg.type === "ack" && pending) {
        this.waiting.delete(msg.id);
        pending(msg);
      }
    });
  }

  request(type, fields = {}) {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.channel.send(JSON.stringify({ id, type, ...fields }));
    });
  }
}
