/**
 * 1:1 audio and video calls: WebRTC media, with Parley's `signal` action as the only
 * signalling channel (docs/calls.md). One call at a time.
 *
 * Caller: invite (every device of the callee rings) -> ringing -> accept (from one device)
 * -> offer to that device -> answer; candidates trickle both ways. Callee: ringing on
 * invite, accept or reject; an `accept` from itself (answeredElsewhere) stops the ringing.
 */

import type { IceServer, ParleyClient, SignalEvent } from "/parley.js";

export type CallPhase = "idle" | "calling" | "ringing" | "incoming" | "connecting" | "connected" | "ended";

/** What the view draws. */
export interface CallState {
  phase: CallPhase;
  peer?: string;
  video: boolean;
  note?: string; // why it ended, in words
  local?: MediaStream;
  remote?: MediaStream;
}

/** How the manager reaches the rest of the app. */
export interface CallHost {
  client: ParleyClient;
  iceServers(): Promise<IceServer[]>;
  onChange(state: CallState): void;
}

function newCallId(): string {
  return crypto.randomUUID().replaceAll("-", "");
}

export class CallManager {
  state: CallState = { phase: "idle", video: false };
  /** The peer connection of the call (tests read its connectionState). */
  pc: RTCPeerConnection | undefined;
  private callId: string | undefined;
  private peerConnection: string | undefined; // the other party's connection id
  private pendingCandidates: RTCIceCandidateInit[] = [];
  private remoteSet = false;
  private sendChain: Promise<unknown> = Promise.resolve();
  private ringTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly host: CallHost) {}

  get busy(): boolean {
    return !["idle", "ended"].includes(this.state.phase);
  }

  /** Call `peer`; resolves once the invite is out. */
  async start(peer: string, video: boolean): Promise<void> {
    if (this.busy) throw new Error("already in a call");
    this.callId = newCallId();
    this.set({ phase: "calling", peer, video });
    try {
      const local = await navigator.mediaDevices.getUserMedia({ audio: true, video });
      this.set({ local });
      const ok = (await this.host.client.signal(peer, this.callId, "invite", {
        payload: { media: video ? ["audio", "video"] : ["audio"] },
      })) as { delivered?: number };
      if (ok.delivered === 0) {
        this.end(`${peer} is not online.`);
        return;
      }
      // Nobody picks up within 45 s: give up, as a phone would.
      this.ringTimer = setTimeout(() => void this.hangup("No answer."), 45_000);
    } catch (error) {
      this.end(undefined);
      throw error;
    }
  }

  /** Accept the incoming call. */
  async accept(): Promise<void> {
    const { peer } = this.state;
    if (this.state.phase !== "incoming" || !peer || !this.callId) return;
    this.set({ phase: "connecting" });
    try {
      const local = await navigator.mediaDevices.getUserMedia({ audio: true, video: this.state.video });
      this.set({ local });
      await this.buildPeer();
      await this.send("accept", {});
    } catch (error) {
      await this.hangup(undefined);
      throw error;
    }
  }

  /** Decline the incoming call. */
  async reject(): Promise<void> {
    if (this.state.phase !== "incoming") return;
    await this.send("reject", {}).catch(() => undefined);
    this.end("Call declined.");
  }

  /** End the call on both sides. */
  async hangup(note: string | undefined = "Call ended."): Promise<void> {
    if (!this.busy || !this.state.peer || !this.callId) return;
    const { peer } = this.state;
    const callId = this.callId;
    this.end(note);
    // Without toConnection: every device of the other party stops.
    await this.host.client.signal(peer, callId, "hangup", {}).catch(() => undefined);
  }

  /** Every `signal` event of the client goes through here. */
  async onSignal(event: SignalEvent): Promise<void> {
    const payload = (event.payload ?? {}) as Record<string, unknown>;
    if (event.kind === "invite") {
      if (this.busy) {
        // Busy: decline the second call, the first one goes on.
        await this.host.client.signal(event.from, event.callId, "reject", { toConnection: event.fromConnection, payload: { busy: true } }).catch(() => undefined);
        return;
      }
      const media = Array.isArray(payload.media) ? payload.media : ["audio"];
      this.callId = event.callId;
      this.peerConnection = event.fromConnection;
      this.set({ phase: "incoming", peer: event.from, video: media.includes("video"), note: undefined });
      await this.send("ringing", {}).catch(() => undefined);
      return;
    }
    if (event.callId !== this.callId) return;
    switch (event.kind) {
      case "ringing":
        if (this.state.phase === "calling") this.set({ phase: "ringing" });
        break;
      case "accept":
        if (payload.answeredElsewhere === true) {
          this.end("Answered on another device.");
          return;
        }
        if (this.state.phase !== "calling" && this.state.phase !== "ringing") return;
        clearTimeout(this.ringTimer);
        this.peerConnection = event.fromConnection;
        this.set({ phase: "connecting" });
        await this.buildPeer();
        {
          const offer = await this.pc!.createOffer();
          await this.pc!.setLocalDescription(offer);
          await this.send("offer", { type: offer.type, sdp: offer.sdp });
        }
        break;
      case "reject":
        this.end(payload.busy === true ? `${this.state.peer} is in another call.` : `${this.state.peer} declined the call.`);
        break;
      case "offer":
        if (!this.pc) return;
        await this.pc.setRemoteDescription(payload as unknown as RTCSessionDescriptionInit);
        await this.remoteReady();
        {
          const answer = await this.pc.createAnswer();
          await this.pc.setLocalDescription(answer);
          await this.send("answer", { type: answer.type, sdp: answer.sdp });
        }
        break;
      case "answer":
        if (!this.pc) return;
        await this.pc.setRemoteDescription(payload as unknown as RTCSessionDescriptionInit);
        await this.remoteReady();
        break;
      case "candidate": {
        const candidate = payload as RTCIceCandidateInit;
        // Candidates can overtake the offer or answer: keep them until it is set.
        if (this.pc && this.remoteSet) await this.pc.addIceCandidate(candidate).catch(() => undefined);
        else this.pendingCandidates.push(candidate);
        break;
      }
      case "hangup":
        this.end(`${this.state.peer} ended the call.`);
        break;
      default:
        break;
    }
  }

  private async buildPeer(): Promise<void> {
    const pc = new RTCPeerConnection({ iceServers: await this.host.iceServers() });
    this.pc = pc;
    this.remoteSet = false;
    this.pendingCandidates = [];
    for (const track of this.state.local?.getTracks() ?? []) pc.addTrack(track, this.state.local!);
    const remote = new MediaStream();
    this.set({ remote });
    pc.ontrack = (e) => {
      remote.addTrack(e.track);
      this.set({ remote });
    };
    pc.onicecandidate = (e) => {
      // A null candidate ends gathering: sent as an empty candidate (docs/calls.md).
      const init = e.candidate ? e.candidate.toJSON() : { candidate: "", sdpMid: "0", sdpMLineIndex: 0 };
      void this.send("candidate", init as Record<string, unknown>).catch(() => undefined);
    };
    pc.onconnectionstatechange = () => {
      if (this.pc !== pc) return;
      if (pc.connectionState === "connected") this.set({ phase: "connected" });
      if (pc.connectionState === "failed") void this.hangup("The call could not connect.");
    };
  }

  private async remoteReady(): Promise<void> {
    this.remoteSet = true;
    const queued = this.pendingCandidates;
    this.pendingCandidates = [];
    for (const c of queued) await this.pc?.addIceCandidate(c).catch(() => undefined);
  }

  /** Signals go one after another: awaiting each `ok` keeps them in order (docs/calls.md). */
  private send(kind: "ringing" | "accept" | "reject" | "offer" | "answer" | "candidate", payload: Record<string, unknown>): Promise<unknown> {
    const peer = this.state.peer;
    const callId = this.callId;
    const toConnection = this.peerConnection;
    if (!peer || !callId) return Promise.resolve();
    const next = this.sendChain.then(() =>
      this.host.client.signal(peer, callId, kind, toConnection ? { payload, toConnection } : { payload }),
    );
    this.sendChain = next.catch(() => undefined);
    return next;
  }

  private end(note: string | undefined): void {
    clearTimeout(this.ringTimer);
    this.pc?.close();
    this.pc = undefined;
    for (const track of this.state.local?.getTracks() ?? []) track.stop();
    this.callId = undefined;
    this.peerConnection = undefined;
    this.state = { phase: "ended", video: this.state.video, ...(this.state.peer ? { peer: this.state.peer } : {}), ...(note ? { note } : {}) };
    this.host.onChange(this.state);
  }

  private set(patch: Partial<CallState>): void {
    this.state = { ...this.state, ...patch };
    this.host.onChange(this.state);
  }
}
