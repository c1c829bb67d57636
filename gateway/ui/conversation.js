// The conversation, browser to browser: the kiosk, the specialist and the GP exchange audio and
// video directly (full mesh), with the browsers' own echo cancellation. The gateway only admits
// peers and relays their offers and answers (docs/conversation.md).
//
// - RTCConfiguration always explicit, from GET /api/v1/session/ice-servers.
// - No trickle: an offer or answer is sent once ICE gathering is complete.
// - Perfect negotiation (polite/impolite by id order) so glare (both offering) is harmless.
// - ICE restart when a path dies: failed at once, disconnected after restartAfterS.
// - Codec preferences set with setCodecPreferences before any setRemoteDescription.

const GATHER_TIMEOUT_MS = 5000;
const RECONNECT_MS = 2000;
const VIDEO_PREFERENCE = ["video/VP8", "video/H264", "video/VP9", "video/AV1"];
const AUDIO_PREFERENCE = ["audio/opus"];
const RETRY_MIN_S = 4;
const RETRY_MAX_S = 30;
const CONNECTED = ["connected", "completed"];
const FINAL_CLOSE = { 4401: "refused", 4403: "removed", 4410: "ended" };

const TEXT = {
  nb: {
    self: "Du",
    nurse: "Helserommet",
    specialist: "Spesialist",
    gp: "Fastlege",
    unknown: "Deltaker",
    connecting: "Kobler til samtalen …",
    waiting: "Venter på de andre …",
    live: "I samtale",
    nomedia: "Fikk ikke tilgang til kamera eller mikrofon.",
    refused: "Ikke logget inn i samtalen.",
    removed: "Du er fjernet fra samtalen.",
    ended: "Konsultasjonen er avsluttet.",
    lost: "Mistet forbindelsen. Prøver igjen …",
  },
  en: {
    self: "You",
    nurse: "Health room",
    specialist: "Specialist",
    gp: "GP",
    unknown: "Participant",
    connecting: "Joining the conversation …",
    waiting: "Waiting for the others …",
    live: "In conversation",
    nomedia: "Could not use the camera or microphone.",
    refused: "Not signed in to the conversation.",
    removed: "You have been removed from the conversation.",
    ended: "The consultation has ended.",
    lost: "Connection lost. Retrying …",
  },
};

function text(key) {
  const lang = document.documentElement.lang === "en" ? "en" : "nb";
  return TEXT[lang][key] ?? key;
}

function sortCodecs(codecs, preferred) {
  const rank = (c) => {
    const i = preferred.indexOf(c.mimeType);
    return i < 0 ? preferred.length : i;
  };
  return [...codecs].sort((a, b) => rank(a) - rank(b)); // stable: rtx/red/fec keep their order
}

function preferCodecs(pc) {
  for (const transceiver of pc.getTransceivers()) {
    const kind = transceiver.receiver.track?.kind;
    const caps = kind && RTCRtpReceiver.getCapabilities(kind);
    if (!caps || typeof transceiver.setCodecPreferences !== "function") continue;
    const preferred = kind === "video" ? VIDEO_PREFERENCE : AUDIO_PREFERENCE;
    transceiver.setCodecPreferences(sortCodecs(caps.codecs, preferred));
  }
}

function hasCandidates(pc) {
  return /\r?\na=candidate:/.test(pc.localDescription?.sdp ?? "");
}

// After an ICE restart Chrome may still say "complete" (from the last round) right after
// setLocalDescription while the new gathering has not begun: a description without
// candidates means "wait for the next complete".
function gatheringComplete(pc) {
  if (pc.iceGatheringState === "complete" && hasCandidates(pc)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => pc.iceGatheringState === "complete" && done();
    const timer = setTimeout(done, GATHER_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

class Conversation {
  constructor(root) {
    this.root = root;
    this.id = null;
    this.config = null;
    this.local = null;
    this.ws = null;
    this.peers = new Map(); // id -> {id, role, pc, polite, makingOffer, tile, video, ...}
    this.restarts = 0;
    this.final = null;
    this.roles = {};
    this.chain = Promise.resolve();
    root.classList.add("conversation");
    root.dataset.state = "connecting";
    root.dataset.peers = "0";
    this.status = this.el("p", "conv-status", { "data-testid": "conv-status", role: "status" });
    this.tiles = this.el("div", "conv-tiles");
    root.append(this.status, this.tiles);
    this.say("connecting");
    new MutationObserver(() => this.relabel()).observe(document.documentElement, {
      attributes: true,
      attributeFilter: ["lang"],
    });
  }

  el(tag, cls, attrs = {}) {
    const node = document.createElement(tag);
    node.className = cls;
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  }

  say(key) {
    this.status.textContent = text(key);
    this.status.dataset.key = key;
  }

  // The kiosk's language toggle sets <html lang>: follow it.
  relabel() {
    this.say(this.status.dataset.key);
    for (const caption of this.root.querySelectorAll(".conv-name")) {
      caption.textContent = text(caption.dataset.key);
    }
  }

  async start() {
    const response = await fetch("/api/v1/session/ice-servers", { credentials: "same-origin" });
    if (!response.ok) {
      this.finish(response.status === 401 ? "refused" : "lost");
      return;
    }
    this.config = await response.json();
    this.connect();
    window.addEventListener("pagehide", () => this.ws?.close(1000));
  }

  // Camera and microphone only once there is someone to talk to (no camera light in an
  // empty room).
  async media() {
    if (this.local) return this.local;
    try {
      this.local = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
        video: { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 15 } },
      });
    } catch (err) {
      console.warn("conversation: getUserMedia failed", err);
      this.say("nomedia");
      this.local = new MediaStream(); // still receive the others
    }
    this.tile("self", "self", this.local, true);
    return this.local;
  }

  rtcConfiguration() {
    return {
      iceServers: this.config.iceServers,
      iceTransportPolicy: this.config.iceTransportPolicy,
      bundlePolicy: "max-bundle",
      rtcpMuxPolicy: "require",
    };
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/api/v1/session/signal`);
    this.ws = ws;
    ws.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      // One message at a time, in order: handlers await media and descriptions.
      this.chain = this.chain
        .then(() => this.onSignal(msg))
        .catch((err) => console.warn("conversation:", msg.type, err));
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      const final = FINAL_CLOSE[event.code];
      if (final) {
        this.finish(final);
      } else {
        this.say("lost");
        setTimeout(() => this.final || this.connect(), RECONNECT_MS);
      }
    };
  }

  finish(reason) {
    this.final = reason;
    this.root.dataset.state = reason;
    this.say(reason);
    for (const id of [...this.peers.keys()]) this.drop(id);
    for (const track of this.local?.getTracks() ?? []) track.stop();
  }

  send(message) {
    if (message.sdp) this.note("out", message);
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  // A short log of descriptions sent and received (for diagnostics and tests): which ICE
  // credentials and candidates each carried.
  note(direction, msg) {
    const lines = msg.sdp.split(/\r?\n/);
    const peer = this.peers.get(direction === "out" ? msg.to : msg.from);
    if (!peer) return;
    peer.log.push({
      direction,
      type: msg.type,
      ufrag: lines.find((l) => l.startsWith("a=ice-ufrag:"))?.slice(12) ?? null,
      candidates: lines.filter((l) => l.startsWith("a=candidate:")).map((l) => l.split(" ")[4]),
    });
    if (peer.log.length > 20) peer.log.shift();
  }

  async onSignal(msg) {
    if (this.final) return;
    switch (msg.type) {
      case "welcome":
        this.id = msg.id;
        this.root.dataset.peerId = msg.id;
        for (const id of [...this.peers.keys()]) this.drop(id); // they dropped us meanwhile
        if (msg.peers.length) await this.media();
        for (const peer of msg.peers) this.peer(peer.id, peer.role); // the newcomer offers
        this.update();
        break;
      case "join":
        this.drop(msg.peer.id); // a rejoin: its old connection is gone; wait for its offer
        this.roles[msg.peer.id] = msg.peer.role;
        await this.media();
        break;
      case "leave":
        this.drop(msg.id);
        break;
      case "offer":
      case "answer":
        await this.onDescription(msg);
        break;
      case "restart":
        this.peers.get(msg.from)?.pc.restartIce();
        break;
      case "error":
        console.warn("conversation: the gateway says", msg.error);
        break;
    }
  }

  peer(id, role) {
    const pc = new RTCPeerConnection(this.rtcConfiguration());
    const peer = { id, role, pc, polite: this.id < id, makingOffer: false, restarts: 0, log: [] };
    peer.timer = null;
    this.peers.set(id, peer);
    for (const track of this.local.getTracks()) pc.addTrack(track, this.local);
    preferCodecs(pc);
    peer.stream = new MediaStream();
    peer.video = this.tile(id, role, peer.stream, false);
    pc.ontrack = ({ track }) => {
      peer.stream.addTrack(track);
      peer.video.srcObject = peer.stream;
    };
    pc.onnegotiationneeded = () => this.negotiate(peer);
    pc.oniceconnectionstatechange = () => this.watch(peer);
    return peer;
  }

  async negotiate(peer) {
    const { pc } = peer;
    if (pc.signalingState !== "stable") return;
    try {
      peer.makingOffer = true;
      await pc.setLocalDescription();
      await gatheringComplete(pc);
      if (pc.signalingState !== "have-local-offer") return; // rolled back by a glare
      this.send({ type: "offer", to: peer.id, sdp: pc.localDescription.sdp });
    } catch (err) {
      console.warn("conversation: offer to", peer.id, err);
    } finally {
      peer.makingOffer = false;
    }
  }

  async onDescription(msg) {
    let peer = this.peers.get(msg.from);
    if (!peer) {
      if (msg.type !== "offer") return;
      await this.media();
      peer = this.peer(msg.from, this.roles[msg.from] ?? "unknown");
    }
    const { pc } = peer;
    this.note("in", msg);
    const collision = msg.type === "offer" && (peer.makingOffer || pc.signalingState !== "stable");
    if (collision && !peer.polite) return; // the impolite side ignores the other's offer
    await pc.setRemoteDescription({ type: msg.type, sdp: msg.sdp }); // polite: implicit rollback
    if (msg.type !== "offer") return;
    preferCodecs(pc); // transceivers the offer added
    await pc.setLocalDescription();
    await gatheringComplete(pc);
    if (pc.localDescription?.type !== "answer") return;
    this.send({ type: "answer", to: peer.id, sdp: pc.localDescription.sdp });
  }

  watch(peer) {
    const state = peer.pc.iceConnectionState;
    peer.video.parentElement.dataset.ice = state;
    clearTimeout(peer.timer);
    if (CONNECTED.includes(state)) clearTimeout(peer.retry);
    if (state === "failed") {
      this.restart(peer);
    } else if (state === "disconnected") {
      peer.timer = setTimeout(() => {
        if (["disconnected", "failed"].includes(peer.pc.iceConnectionState)) this.restart(peer);
      }, this.config.restartAfterS * 1000);
    }
    this.update();
  }

  restart(peer) {
    peer.restarts += 1;
    this.restarts += 1;
    peer.pc.restartIce(); // fires negotiationneeded: a new offer with new ICE credentials
    // Not back yet (no usable network at that moment, the offer lost)? Again, less often.
    clearTimeout(peer.retry);
    const delayS = Math.min(RETRY_MAX_S, Math.max(RETRY_MIN_S, this.config.restartAfterS * 2 ** peer.restarts));
    peer.retry = setTimeout(() => {
      if (!CONNECTED.includes(peer.pc.iceConnectionState) && this.peers.get(peer.id) === peer) {
        this.restart(peer);
      }
    }, delayS * 1000);
  }

  drop(id) {
    const peer = this.peers.get(id);
    if (!peer) return;
    clearTimeout(peer.timer);
    clearTimeout(peer.retry);
    peer.pc.close();
    peer.video.parentElement.remove();
    this.peers.delete(id);
    this.update();
  }

  update() {
    if (this.final) return;
    const live = [...this.peers.values()].some((p) => CONNECTED.includes(p.pc.iceConnectionState));
    this.root.dataset.state = live ? "live" : "waiting";
    this.root.dataset.peers = String(this.peers.size);
    this.say(live ? "live" : "waiting");
  }

  tile(id, role, stream, self) {
    const figure = this.el("figure", `conv-tile${self ? " self" : ""}`, {
      "data-peer": id,
      "data-role": role,
      "data-testid": self ? "conv-self" : "conv-remote",
    });
    const video = this.el("video", "conv-video");
    video.autoplay = true;
    video.playsInline = true;
    video.muted = self; // never hear yourself; the others' audio plays from their tile
    video.srcObject = stream;
    const caption = this.el("figcaption", "conv-name");
    caption.dataset.key = self ? "self" : role;
    caption.textContent = text(caption.dataset.key);
    figure.append(video, caption);
    this.tiles.append(figure);
    return video;
  }

  // For tests and diagnostics: what each connection sees.
  async stats() {
    const out = [];
    for (const peer of this.peers.values()) {
      const report = await peer.pc.getStats();
      const byId = new Map([...report.values()].map((s) => [s.id, s]));
      let pair = null;
      let video = null;
      let audio = null;
      for (const s of report.values()) {
        if (s.type === "transport" && s.selectedCandidatePairId) {
          pair = byId.get(s.selectedCandidatePairId);
        }
        if (s.type === "inbound-rtp" && s.kind === "video") video = s;
        if (s.type === "inbound-rtp" && s.kind === "audio") audio = s;
      }
      const local = pair && byId.get(pair.localCandidateId);
      const remote = pair && byId.get(pair.remoteCandidateId);
      const tracks = peer.stream.getTracks();
      out.push({
        id: peer.id,
        role: peer.role,
        polite: peer.polite,
        ice: peer.pc.iceConnectionState,
        connection: peer.pc.connectionState,
        restarts: peer.restarts,
        signalling: peer.log,
        localCandidate: local
          ? { type: local.candidateType, address: local.address, port: local.port }
          : null,
        remoteCandidate: remote
          ? { type: remote.candidateType, address: remote.address, port: remote.port }
          : null,
        videoCodec: video?.codecId ? byId.get(video.codecId)?.mimeType : null,
        framesDecoded: video?.framesDecoded ?? 0,
        audioPackets: audio?.packetsReceived ?? 0,
        videoWidth: peer.video.videoWidth,
        audioLive: tracks.some((t) => t.kind === "audio" && t.readyState === "live"),
        videoLive: tracks.some((t) => t.kind === "video" && t.readyState === "live"),
      });
    }
    return out;
  }
}

const root = document.getElementById("conversation");
if (root) {
  const conversation = new Conversation(root);
  window.helseromConversation = conversation;
  conversation.start().catch((err) => console.warn("conversation: start failed", err));
}
