/**
 * The web client: sign-in, the conversation list, DM and group views, calls. Plain DOM:
 * each region is redrawn from the state below when it changes.
 */

import { featuresOf, isOn, type FeatureMap } from "./features";
import { HttpClient, ParleyClient } from "/parley.js";
import type { IceServer, ServerEvent } from "/parley.js";
import { CallManager, type CallState } from "./calls.js";
import { fill, h, icon, reconcile, setText } from "./dom.js";
import {
  bodyText,
  dmId,
  dmPeer,
  isEvent,
  mentionsIn,
  mergeMessages,
  reactionChips,
  resolveMessages,
  sizeLabel,
  sortConversations,
  timeLabel,
  titleOf,
  type ChatBody,
  type ChatMessage,
  type ConversationView,
} from "./state.js";
import { describeError, type Doing } from "./words.js";
import { OPEN_MESSAGE, conversationInLink } from "./notify.js";
import { PushSetup, type PushState } from "./push.js";
import { solveInWorker } from "./solver.js";

/** What `/config.json` hands the page: where the APIs are. */
export interface Config {
  httpUrl: string;
  wsUrl: string;
  /** Conversations per page of the list (1-200; the server's default when absent). */
  listPageSize?: number;
}

/** The reactions offered by the picker (any key the server takes shows as a chip). */
export const REACTIONS = ["👍", "❤️", "😂", "😮", "😢", "🎉"];

/** One conversation's row in the list, kept and updated in place (see renderList). */
interface Row {
  li: HTMLLIElement;
  button: HTMLButtonElement;
  mute: HTMLButtonElement;
  avatar: HTMLElement;
  dot: HTMLElement;
  title: HTMLElement;
  time: HTMLElement;
  preview: HTMLElement;
  badge: HTMLElement;
  lines: HTMLElement;
}

/** A download link of an attachment, valid until `until` (ms). */
interface Link {
  url: string;
  until: number;
}

type Connection = "connecting" | "online" | "reconnecting" | "offline";

const PAGE = 30;
const TYPING_SEND_EVERY_MS = 3000;
const TYPING_STOP_AFTER_MS = 4000;
const TYPING_SHOWN_MS = 6000;
const PRESENCE_EVERY_MS = 20000;
const SESSION_KEY = "parley.session";

export class App {
  readonly http: HttpClient;
  client: ParleyClient | undefined;
  me = "";
  readonly conversations = new Map<string, ConversationView>();
  readonly messages = new Map<string, ChatMessage[]>();
  /** nextBeforeSeq of the oldest history page loaded (null: nothing older; absent: not loaded). */
  readonly older = new Map<string, number | null>();
  /** Other members' readSeq, from receipts. */
  readonly readers = new Map<string, Map<string, number>>();
  readonly typingNow = new Map<string, Map<string, number>>();
  readonly online = new Map<string, boolean>();
  readonly groupSizes = new Map<string, number>();
  /** Per group: its members and the caller's role (who may delete others' messages, who can be mentioned). */
  readonly groups = new Map<string, { members: string[]; role: string }>();
  /** The message the composer replies to. */
  replyTo: ChatMessage | undefined;
  /** The key (see messageKey) of the message being edited inline. */
  editing: string | undefined;
  /** What the server has on for this user (`GET /me`): off features are not offered. */
  features: FeatureMap | undefined;
  active: string | undefined;
  connection: Connection = "connecting";
  call: CallManager | undefined;
  push: PushSetup | undefined;
  pushState: PushState = "off";
  /** A conversation to open once signed in (a notification's link or click). */
  private pendingOpen: string | undefined;
  private loadingOlder: string | undefined;
  private lastTypingSent = 0;
  private typingStopTimer: ReturnType<typeof setTimeout> | undefined;
  private timers: ReturnType<typeof setInterval>[] = [];
  private removeListener: (() => void) | undefined;
  private ice: { servers: IceServer[]; until: number } | undefined;
  private els: Record<string, HTMLElement> = {};
  private readonly rows = new Map<string, Row>();
  /** Drawn messages by key, with the signature of what they show (redrawn only when it changes). */
  private readonly drawn = new Map<string, { sig: string; el: HTMLElement }>();
  private headerSig = "";
  private readonly links = new Map<string, Link>();
  private readonly linkRequests = new Map<string, Promise<Link>>();
  /** Files being sent, by clientMsgId, kept for a retry. */
  private readonly files = new Map<string, File>();
  /** Set while this tab itself ends every login: the socket's end is then no news. */
  private leavingEverywhere = false;

  constructor(
    private readonly root: HTMLElement,
    readonly config: Config,
  ) {
    this.http = new HttpClient(config.httpUrl, {
      onTokens: (pair) => {
        if (pair) sessionStorage.setItem(SESSION_KEY, JSON.stringify(pair));
        else sessionStorage.removeItem(SESSION_KEY);
      },
      // The registration challenge (protocol 13) is solved in a worker of this origin.
      solveChallenge: solveInWorker,
    });
  }

  /** Resume the tab's session if it has one, else show the sign-in screen. */
  async start(): Promise<void> {
    this.pendingOpen = conversationInLink(location.search);
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.addEventListener("message", this.onWorkerMessage);
      // Messages posted before this point (a click that opened the page) are queued until now.
      navigator.serviceWorker.startMessages();
    }
    const saved = sessionStorage.getItem(SESSION_KEY);
    if (saved) {
      try {
        const pair = JSON.parse(saved) as { refreshToken: string };
        await this.http.refresh(pair.refreshToken);
        const me = await this.http.me();
        await this.enter(me.userId);
        return;
      } catch {
        sessionStorage.removeItem(SESSION_KEY);
      }
    }
    this.renderLogin();
  }

  // ------------------------------------------------------------------ sign-in

  renderLogin(mode: "login" | "register" = "login", note = ""): void {
    const error = h("p", { class: "form-error", role: "alert", id: "login-error" }, note);
    const userId = h("input", { id: "login-user", name: "username", autocomplete: "username", required: true, autocapitalize: "none", spellcheck: "false" });
    const password = h("input", { id: "login-password", name: "password", type: "password", required: true, autocomplete: mode === "login" ? "current-password" : "new-password" });
    const displayName = h("input", { id: "login-display", name: "displayName", autocomplete: "name" });
    const submit = h("button", { type: "submit", class: "primary wide" }, mode === "login" ? "Sign in" : "Create account");
    const form = h(
      "form",
      {
        class: "login-form",
        "aria-labelledby": "login-title",
        onsubmit: (e: Event) => {
          e.preventDefault();
          submit.disabled = true;
          // Creating an account may first take a second or two of work (the challenge).
          if (mode === "register") fill(submit, "Creating account…");
          form.setAttribute("aria-busy", "true");
          fill(error, "");
          void this.signIn(mode, userId.value.trim(), password.value, displayName.value.trim())
            .catch((err: unknown) => fill(error, describeError(err, mode)))
            .finally(() => {
              submit.disabled = false;
              fill(submit, mode === "login" ? "Sign in" : "Create account");
              form.removeAttribute("aria-busy");
            });
        },
      },
      h("label", { for: "login-user" }, "User name"),
      userId,
      h("label", { for: "login-password" }, "Password"),
      password,
      mode === "register" && [h("label", { for: "login-display" }, "Display name ", h("span", { class: "muted" }, "(optional)")), displayName],
      error,
      submit,
    );
    const tab = (which: "login" | "register", text: string) =>
      h("button", { type: "button", role: "tab", class: "tab", "aria-selected": String(mode === which), onclick: () => this.renderLogin(which) }, text);
    fill(
      this.root,
      h(
        "main",
        { class: "login" },
        h(
          "section",
          { class: "card" },
          h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }, "P"), h("h1", { id: "login-title" }, "Parley")),
          h("p", { class: "muted" }, "Messages, groups and calls."),
          h("div", { role: "tablist", class: "tabs", "aria-label": "Sign in or create an account" }, tab("login", "Sign in"), tab("register", "Create account")),
          form,
        ),
      ),
    );
    userId.focus();
  }

  async signIn(mode: "login" | "register", userId: string, password: string, displayName: string): Promise<void> {
    if (mode === "register") await this.http.register(userId, password, displayName || undefined);
    await this.http.login(userId, password);
    await this.enter(userId);
  }

  /** Signed in: connect the socket and show the app. */
  async enter(userId: string): Promise<void> {
    this.me = userId;
    // Best effort: without the answer everything is offered, as before features existed.
    this.features = featuresOf(await this.http.me().catch(() => undefined));
    const client = new ParleyClient(this.config.wsUrl, this.http.tokenProvider, {
      // The login was ended (signed out everywhere, a password change elsewhere, or its
      // lifetime reached): back to the sign-in screen at once, saying why.
      onStopped: (error) => {
        if (this.client === client && !this.leavingEverywhere) void this.signOut(describeError(error), "forget");
      },
    });
    this.client = client;
    this.removeListener = client.addListener((event) => this.onEvent(event));
    this.call = new CallManager({ client, iceServers: () => this.iceServers(), onChange: (s) => this.renderCall(s) });
    this.push = new PushSetup(this.http, userId);
    this.renderShell();
    void this.initPush();
    await this.refreshConversations();
    // Start the live stream where the list stands: older messages come as history pages
    // when a conversation is opened, instead of syncing every conversation's whole past.
    const cursors: Record<string, number> = {};
    for (const c of this.conversations.values()) cursors[c.conversationId] = c.lastSeq;
    client.importCursors(cursors);
    await client.connect();
    this.setConnection("online");
    this.timers.push(setInterval(() => this.watchConnection(), 400));
    this.timers.push(setInterval(() => void this.refreshPresence(), PRESENCE_EVERY_MS));
    window.addEventListener("online", this.onBrowserOnline);
    window.addEventListener("offline", this.onBrowserOffline);
    void this.refreshPresence();
    const pending = this.pendingOpen;
    this.pendingOpen = undefined;
    if (pending) await this.openFromNotification(pending);
  }

  /**
   * Leave the app for the sign-in screen (showing `note`). `how`: "logout" ends this login
   * on the server; "forget" only drops the tokens (the login is over already).
   */
  async signOut(note = "", how: "logout" | "forget" = "logout"): Promise<void> {
    const client = this.client;
    if (!client) return;
    // Taken first: the connection watcher and a second click see a signed-out app.
    this.client = undefined;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.call?.hangup();
    this.removeListener?.();
    window.removeEventListener("online", this.onBrowserOnline);
    window.removeEventListener("offline", this.onBrowserOffline);
    await client.close();
    // The next person on this browser must not get this account's notifications.
    if (this.pushState === "on") await this.push?.disable().catch(() => undefined);
    this.push = undefined;
    this.pushState = "off";
    if (how === "logout") await this.http.logout().catch(() => this.http.clearTokens());
    else this.http.clearTokens();
    this.me = "";
    this.active = undefined;
    for (const m of [this.conversations, this.messages, this.older, this.readers, this.typingNow, this.online, this.groups, this.rows, this.drawn, this.links, this.files]) m.clear();
    this.replyTo = undefined;
    this.editing = undefined;
    this.leavingEverywhere = false;
    this.renderLogin("login", note);
  }

  // ------------------------------------------------------------------ account

  /** Open or close the account menu (a disclosure: its button says which). */
  private toggleAccountMenu(open?: boolean): void {
    const button = this.els.account;
    const menu = this.els.accountMenu;
    if (!button || !menu) return;
    const show = open ?? menu.hidden;
    menu.hidden = !show;
    button.setAttribute("aria-expanded", String(show));
    if (show) (menu.querySelector("button") as HTMLButtonElement | null)?.focus();
  }

  private dialogPassword(): void {
    this.toggleAccountMenu(false);
    const current = h("input", { id: "password-old", name: "oldPassword", type: "password", required: true, autocomplete: "current-password" });
    const next = h("input", { id: "password-new", name: "newPassword", type: "password", required: true, minlength: 8, maxlength: 128, autocomplete: "new-password", "aria-describedby": "password-hint" });
    const again = h("input", { id: "password-again", name: "newPasswordAgain", type: "password", required: true, autocomplete: "new-password" });
    // The form is not submitted while the two differ; the browser says why.
    const match = () => again.setCustomValidity(again.value === next.value ? "" : "The two new passwords are not the same.");
    next.addEventListener("input", match);
    again.addEventListener("input", match);
    this.dialog(
      "Change password",
      [
        h("label", { for: "password-old" }, "Current password"),
        current,
        h("label", { for: "password-new" }, "New password"),
        next,
        h("p", { class: "muted hint", id: "password-hint" }, "8 to 128 characters. You stay signed in here; every other sign-in ends."),
        h("label", { for: "password-again" }, "New password again"),
        again,
      ],
      "Change password",
      "password",
      async () => {
        await this.http.changePassword(current.value, next.value);
        this.toast("Your password is changed. Every other sign-in has ended.");
      },
    );
    current.focus();
  }

  private dialogSignOutEverywhere(): void {
    this.toggleAccountMenu(false);
    this.dialog(
      "Sign out everywhere?",
      [h("p", {}, "This ends every sign-in of your account: on this device and on every other one.")],
      "Sign out everywhere",
      "other",
      async () => {
        this.leavingEverywhere = true;
        try {
          await this.http.logoutAll();
        } catch (error) {
          this.leavingEverywhere = false;
          throw error;
        }
        await this.signOut("You are signed out on every device.", "forget");
      },
    );
  }


  // ------------------------------------------------------------------ notifications

  /** The service worker's message: a notification was clicked. */
  private readonly onWorkerMessage = (event: MessageEvent): void => {
    const data = event.data as { type?: unknown; conversationId?: unknown } | null;
    if (data?.type !== OPEN_MESSAGE || typeof data.conversationId !== "string") return;
    if (this.client) void this.openFromNotification(data.conversationId);
    else this.pendingOpen = data.conversationId;
  };

  /** Open a conversation named by a notification (a new one is in the list after a refresh). */
  async openFromNotification(conversationId: string): Promise<void> {
    if (location.search) history.replaceState(null, "", "/");
    if (!this.conversations.has(conversationId)) await this.refreshConversations();
    if (this.conversations.has(conversationId)) await this.open(conversationId);
    else this.toast("That conversation is not available to you.");
  }

  /** Keep the service worker installed (it opens notifications' conversations) and show the state. */
  private async initPush(): Promise<void> {
    if (!PushSetup.supported()) {
      this.setPushState("unsupported");
      return;
    }
    try {
      await PushSetup.worker();
    } catch {
      this.setPushState("unsupported");
      return;
    }
    try {
      this.setPushState((await this.push?.state()) ?? "off");
    } catch {
      // Registering the subscription again failed (offline, or refused): off until turned on.
      this.setPushState("off");
    }
  }

  /** The notifications control: turn offline notifications on (asks the browser) or off. */
  async togglePush(): Promise<void> {
    const push = this.push;
    const button = this.els.notifications as HTMLButtonElement | undefined;
    if (!push || !button) return;
    button.disabled = true;
    try {
      this.setPushState(this.pushState === "on" ? await push.disable() : await push.enable());
    } catch (error) {
      this.toast(describeError(error, "notify"));
      this.setPushState(Notification.permission === "denied" ? "denied" : "off");
    } finally {
      button.disabled = this.pushState === "unsupported" || this.pushState === "denied";
    }
  }

  private setPushState(state: PushState): void {
    this.pushState = state;
    const button = this.els.notifications as HTMLButtonElement | undefined;
    if (!button) return;
    const words: Record<PushState, [string, string]> = {
      on: ["On", "You are notified of new messages while Parley is closed. Select to turn off."],
      off: ["Off", "Get notified of new messages while Parley is closed."],
      denied: ["Blocked", "Notifications are blocked for this site: allow them in the browser's site settings."],
      unsupported: ["Unavailable", "This browser cannot show notifications for this page."],
    };
    const [short, long] = words[state];
    button.setAttribute("aria-pressed", String(state === "on"));
    button.dataset.state = state;
    button.title = long;
    button.disabled = state === "unsupported" || state === "denied";
    fill(button, icon(state === "on" ? "bell" : "bellOff"), h("span", {}, "Notifications"), h("span", { class: "state", id: "notifications-state", "aria-hidden": "true" }, short));
  }

  /** Mute or unmute a conversation (no offline notifications from it). */
  async toggleMute(conversationId: string): Promise<void> {
    const conv = this.conversations.get(conversationId);
    if (!conv) return;
    const row = this.rows.get(conversationId);
    if (row) row.mute.disabled = true;
    try {
      const setting = await this.http.setMuted(conversationId, !conv.muted);
      conv.muted = setting.muted;
      this.renderList();
    } catch (error) {
      this.toast(describeError(error, "mute"));
    } finally {
      if (row) row.mute.disabled = false;
    }
  }

  // ------------------------------------------------------------------ connection

  private readonly onBrowserOffline = (): void => this.setConnection("offline");

  private readonly onBrowserOnline = (): void => {
    this.watchConnection();
    // Whatever was pushed while the network was away comes back with sync (the SDK drops repeats).
    void this.client?.sync().catch(() => undefined);
    void this.refreshConversations();
  };

  private watchConnection(): void {
    const client = this.client;
    if (!client) return;
    if (client.closed) {
      // The SDK gave up for good (the login was revoked, or the account suspended); onStopped
      // has usually done this already.
      if (!this.leavingEverywhere) void this.signOut(describeError(client.stoppedBy ?? { code: 1003 }), "forget");
      return;
    }
    const next: Connection = !navigator.onLine ? "offline" : client.connected ? "online" : "reconnecting";
    if (next !== this.connection) {
      const wasDown = this.connection !== "online";
      this.setConnection(next);
      if (next === "online" && wasDown) void this.refreshConversations();
    }
  }

  private setConnection(state: Connection): void {
    this.connection = state;
    const banner = this.els.banner;
    if (!banner) return;
    banner.dataset.state = state;
    const text: Record<Connection, string> = {
      connecting: "Connecting…",
      online: "",
      reconnecting: "Connection lost. Reconnecting…",
      offline: "You are offline. New messages will appear when you are back online.",
    };
    fill(banner, text[state]);
    banner.hidden = state === "online";
    this.renderHeader();
    const pill = this.els.status;
    if (pill) {
      pill.dataset.state = state;
      fill(pill, state === "online" ? "Online" : state === "offline" ? "Offline" : state === "reconnecting" ? "Reconnecting" : "Connecting");
    }
  }

  // ------------------------------------------------------------------ data

  async refreshConversations(): Promise<void> {
    let list: Awaited<ReturnType<HttpClient["conversations"]>>;
    try {
      list = await this.http.conversations(this.config.listPageSize);
    } catch (error) {
      this.toast(describeError(error, "load"));
      return;
    }
    for (const c of list) {
      const known = this.conversations.get(c.conversationId);
      const held = this.messages.get(c.conversationId);
      const last = held?.filter((m) => m.seq > 0).at(-1);
      this.conversations.set(c.conversationId, {
        conversationId: c.conversationId,
        type: c.type as "dm" | "group",
        name: c.name ?? undefined,
        lastSeq: Math.max(c.lastSeq, known?.lastSeq ?? 0),
        readSeq: Math.max(c.readSeq, known?.readSeq ?? 0),
        unread: c.conversationId === this.active ? 0 : c.unread,
        muted: c.muted === true,
        ...(known?.lastText !== undefined ? { lastText: known.lastText, lastTs: known.lastTs ?? 0 } : {}),
        ...(last ? { lastText: this.preview(last), lastTs: last.ts } : {}),
      });
      if (known?.lastText === undefined && !last && c.lastSeq > 0) void this.loadPreview(c.conversationId);
    }
    this.renderList();
    if (this.active && this.conversations.has(this.active)) this.markRead(this.active);
  }

  private async loadPreview(conversationId: string): Promise<void> {
    try {
      const page = await this.http.history(conversationId, { limit: 1 });
      const last = page.messages.at(-1) as unknown as ChatMessage | undefined;
      const conv = this.conversations.get(conversationId);
      if (last && conv && conv.lastText === undefined) {
        conv.lastText = this.preview(last);
        conv.lastTs = last.ts;
        this.renderList();
      }
    } catch {
      // The preview is a nicety; the conversation is listed without it.
    }
  }

  private preview(m: ChatMessage): string {
    const text = bodyText(m);
    if (m.body.type === "system") return text;
    const conv = this.conversations.get(m.conversationId);
    const who = m.senderId === this.me ? "You: " : conv?.type === "group" ? `${m.senderId}: ` : "";
    return who + text;
  }

  private async refreshPresence(): Promise<void> {
    const ids = new Set([...this.conversations.keys(), ...(this.active ? [this.active] : [])]);
    const peers = [...ids].map((id) => dmPeer(id, this.me)).filter((p): p is string => !!p && p !== this.me);
    if (!this.client?.connected || peers.length === 0 || !isOn(this.features, "presence")) return;
    try {
      for (const u of await this.client.presence(peers.slice(0, 100))) this.online.set(u.userId, u.online);
      this.renderList();
      this.renderHeader();
    } catch {
      // Presence is best effort: dots keep their last state.
    }
  }

  private async iceServers(): Promise<IceServer[]> {
    if (this.ice && this.ice.until > Date.now()) return this.ice.servers;
    const answer = await this.http.iceServers();
    // Fetch again well before the TURN credentials run out.
    this.ice = { servers: answer.iceServers, until: Date.now() + (answer.ttl * 1000) / 2 };
    return answer.iceServers;
  }

  private onEvent(event: ServerEvent): void {
    switch (event.type) {
      case "message":
        {
          const sender = String(event.senderId);
          if (sender !== this.me && this.online.get(sender) === false) {
            this.online.set(sender, true);
            this.renderHeader();
          }
        }
        this.addMessages(event.conversationId, [event as unknown as ChatMessage]);
        break;
      case "update":
        // The event itself came as a `message` and is applied by resolveMessages: the SDK
        // holds no own sends, so its updates would miss reactions to this tab's messages.
        break;
      case "receipt": {
        if (event.userId === this.me) {
          const conv = this.conversations.get(event.conversationId);
          if (conv) {
            conv.readSeq = Math.max(conv.readSeq, event.readSeq);
            conv.unread = Math.max(0, conv.lastSeq - conv.readSeq);
            this.renderList();
          }
          break;
        }
        const readers = this.readers.get(event.conversationId) ?? new Map<string, number>();
        readers.set(event.userId, Math.max(readers.get(event.userId) ?? 0, event.readSeq));
        this.readers.set(event.conversationId, readers);
        if (event.conversationId === this.active) this.renderSeen();
        break;
      }
      case "typing": {
        if (event.userId === this.me) break;
        const who = this.typingNow.get(event.conversationId) ?? new Map<string, number>();
        if (event.state === "start") who.set(event.userId, Date.now() + TYPING_SHOWN_MS);
        else who.delete(event.userId);
        this.typingNow.set(event.conversationId, who);
        if (event.conversationId === this.active) this.renderTyping();
        setTimeout(() => this.active === event.conversationId && this.renderTyping(), TYPING_SHOWN_MS + 50);
        break;
      }
      case "signal":
        void this.call?.onSignal(event).catch((error: unknown) => this.toast(describeError(error, "call")));
        break;
      case "error":
        this.toast(describeError(event));
        break;
      default:
        break;
    }
  }

  /** Messages arrived (pushed, synced, a history page or an ack): merge, list and draw. */
  addMessages(conversationId: string, arrived: ChatMessage[], fromHistory = false): void {
    // History messages may leave out conversationId; events match their targets by it.
    const incoming = arrived.map((m) => (m.conversationId ? m : { ...m, conversationId }));
    const before = this.messages.get(conversationId) ?? [];
    const merged = mergeMessages(before, incoming);
    this.messages.set(conversationId, merged);
    let conv = this.conversations.get(conversationId);
    if (!conv) {
      conv = { conversationId, type: conversationId.startsWith("dm:") ? "dm" : "group", lastSeq: 0, readSeq: 0, unread: 0 };
      this.conversations.set(conversationId, conv);
      // A conversation this tab has not listed yet (a new DM or group): its name comes from the list.
      void this.refreshConversations();
    }
    const top = merged.filter((m) => m.seq > 0).at(-1);
    if (top && top.seq >= conv.lastSeq) {
      // Events and system messages are not unread (protocol 9.2); new messages from others are.
      const fresh = incoming.filter((m) => m.seq > conv.lastSeq && m.senderId !== this.me && !isEvent(m) && m.body.type !== "system");
      if (!fromHistory && conversationId !== this.active) conv.unread += fresh.length;
      conv.lastSeq = top.seq;
      if (top.senderId === this.me) conv.readSeq = Math.max(conv.readSeq, top.seq);
    }
    const shown = resolveMessages(merged).filter((m) => m.seq > 0).at(-1);
    if (shown && shown.ts >= (conv.lastTs ?? 0)) {
      conv.lastText = this.preview(shown);
      conv.lastTs = shown.ts;
    }
    // A membership or role change may change who can be mentioned and what the caller may delete.
    if (!fromHistory && this.groups.has(conversationId) && incoming.some((m) => m.body.type === "system")) void this.loadGroup(conversationId);
    // A message from someone ends their typing.
    for (const m of incoming) this.typingNow.get(conversationId)?.delete(m.senderId);
    this.renderList();
    if (conversationId === this.active) {
      this.renderMessages(!fromHistory);
      this.renderTyping();
      if (!fromHistory) this.markRead(conversationId);
    }
  }

  private markRead(conversationId: string): void {
    const conv = this.conversations.get(conversationId);
    if (!conv || document.visibilityState !== "visible") return;
    if (conv.lastSeq > conv.readSeq) {
      const seq = conv.lastSeq;
      if (isOn(this.features, "read")) void this.client?.read(conversationId, seq).catch(() => undefined);
      conv.readSeq = seq;
    }
    if (conv.unread !== 0) {
      conv.unread = 0;
      this.renderList();
    }
  }

  // ------------------------------------------------------------------ actions

  async open(conversationId: string): Promise<void> {
    this.stopTyping();
    if (this.active !== conversationId) {
      this.replyTo = undefined;
      this.editing = undefined;
    }
    this.active = conversationId;
    this.renderList();
    this.renderChat();
    this.markRead(conversationId);
    if (conversationId.startsWith("dm:")) void this.refreshPresence();
    if (!this.older.has(conversationId)) await this.loadOlder(conversationId);
    if (conversationId.startsWith("grp:")) void this.loadGroup(conversationId);
  }

  /** A group's members and the caller's role: owners and admins may delete anyone's messages. */
  private async loadGroup(conversationId: string): Promise<void> {
    try {
      const group = await this.http.getGroup(conversationId);
      const mine = group.members.find((m) => m.userId === this.me);
      this.groups.set(conversationId, { members: group.members.map((m) => m.userId), role: mine?.role ?? "member" });
      this.groupSizes.set(conversationId, group.members.length);
      this.renderHeader();
      if (this.active === conversationId) this.renderMessages(false);
    } catch {
      // Without it, only own messages offer Delete, and the header says "Group".
    }
  }

  async loadOlder(conversationId: string): Promise<void> {
    // One page at a time for the open conversation; another conversation's page does not
    // block this one (it would leave the conversation opened meanwhile without its history).
    if (this.loadingOlder === conversationId) return;
    const before = this.older.get(conversationId);
    if (before === null) return;
    this.loadingOlder = conversationId;
    const list = this.els.messages;
    const fromBottom = list ? list.scrollHeight - list.scrollTop : 0;
    try {
      const page = await this.http.history(conversationId, before === undefined ? { limit: PAGE } : { beforeSeq: before, limit: PAGE });
      this.client?.holdHistory(page.messages as never);
      this.older.set(conversationId, page.nextBeforeSeq ?? null);
      this.addMessages(conversationId, page.messages as unknown as ChatMessage[], true);
      if (this.active === conversationId && list) {
        // Keep what was on screen where it was: the older page grows the list upwards.
        if (before === undefined) list.scrollTop = list.scrollHeight;
        else list.scrollTop = list.scrollHeight - fromBottom;
      }
      this.markRead(conversationId);
    } catch (error) {
      const code = (error as { code?: number }).code;
      // A DM not started yet has no history: it starts with the first message.
      if (code === 1004 || code === 2002 || code === 2003) this.older.set(conversationId, null);
      else this.toast(describeError(error, "load"));
      this.renderMessages(true);
    } finally {
      if (this.loadingOlder === conversationId) this.loadingOlder = undefined;
    }
  }

  /** Where a send to `conversationId` goes: `to` for a DM (it may not exist yet), else the id. */
  private target(conversationId: string, clientMsgId: string): { to: string; clientMsgId: string } | { conversationId: string; clientMsgId: string } {
    const peer = dmPeer(conversationId, this.me);
    return peer !== undefined ? { to: peer, clientMsgId } : { conversationId, clientMsgId };
  }

  /** Show `pending` at the end of the conversation (replacing an earlier try of it). */
  private showPending(pending: ChatMessage): void {
    const others = (this.messages.get(pending.conversationId) ?? []).filter((m) => m.clientMsgId !== pending.clientMsgId);
    this.messages.set(pending.conversationId, [...others, pending]);
    if (pending.conversationId === this.active) this.renderMessages(true);
  }

  /** Send a text message (a reply to `this.replyTo` when set; `@name`s of a group become mentions). */
  async sendText(text: string, retryOf?: ChatMessage): Promise<void> {
    const conversationId = retryOf?.conversationId ?? this.active;
    if (!conversationId || !this.client) return;
    if ([...text].length > 4000) {
      this.toast(describeError({ code: 1006 }, "send"));
      return;
    }
    let body: ChatBody = retryOf ? retryOf.body : { type: "text", text };
    if (!retryOf) {
      if (this.replyTo && this.replyTo.conversationId === conversationId) body = { ...body, replyTo: this.replyTo.seq };
      const mentions = mentionsIn(text, this.groups.get(conversationId)?.members ?? [], this.me);
      if (mentions.length > 0) body = { ...body, mentions };
      this.setReply(undefined);
    }
    const clientMsgId = retryOf?.clientMsgId ?? crypto.randomUUID();
    this.stopTyping();
    await this.sendBody(conversationId, body, clientMsgId, "send");
  }

  /** Show `body` as being sent, send it, then show it stored (or failed, with Retry). */
  private async sendBody(conversationId: string, body: ChatBody, clientMsgId: string, doing: Doing, shown: ChatBody = body): Promise<void> {
    const client = this.client;
    if (!client) return;
    const pending: ChatMessage = { conversationId, seq: 0, senderId: this.me, body: shown, ts: Date.now(), clientMsgId, pending: true };
    this.showPending(pending);
    try {
      const ack = await client.send(body as never, this.target(conversationId, clientMsgId));
      this.files.delete(clientMsgId);
      this.addMessages(conversationId, [{ ...pending, seq: ack.seq, ts: ack.ts, pending: false }]);
    } catch (error) {
      this.showPending({ ...pending, pending: false, failed: describeError(error, doing) });
    }
  }

  /**
   * Send an edit, delete or reaction event (section 9.1). It is applied here once acked (the
   * sender's own sends are not pushed back); a refusal is told in words.
   */
  async sendEvent(conversationId: string, body: ChatBody, doing: Doing): Promise<boolean> {
    const client = this.client;
    if (!client) return false;
    const clientMsgId = crypto.randomUUID();
    try {
      const ack = await client.send(body as never, this.target(conversationId, clientMsgId));
      this.addMessages(conversationId, [{ conversationId, seq: ack.seq, senderId: this.me, body, ts: ack.ts, clientMsgId }]);
      return true;
    } catch (error) {
      this.toast(describeError(error, doing));
      return false;
    }
  }

  /** Toggle your `key` reaction on `message`. */
  react(message: ChatMessage, key: string): Promise<boolean> {
    const on = !(message.reactions?.[key] ?? []).includes(this.me);
    return this.sendEvent(message.conversationId, { type: "reaction", target: message.seq, key, on }, "react");
  }

  /** Upload `file` to the open conversation and send it as a file message. */
  async sendFile(file: File, retryOf?: ChatMessage): Promise<void> {
    const conversationId = retryOf?.conversationId ?? this.active;
    if (!conversationId || !this.client) return;
    const clientMsgId = retryOf?.clientMsgId ?? crypto.randomUUID();
    this.files.set(clientMsgId, file);
    const contentType = file.type || "application/octet-stream";
    const shown: ChatBody = { type: "file", name: file.name || "file", size: file.size, contentType };
    this.showPending({ conversationId, seq: 0, senderId: this.me, body: shown, ts: Date.now(), clientMsgId, pending: true, uploading: true });
    let attachmentId: string;
    try {
      attachmentId = (await this.http.uploadAttachment(conversationId, file, { name: shown.name ?? "file", contentType })).attachmentId;
    } catch (error) {
      this.showPending({ conversationId, seq: 0, senderId: this.me, body: shown, ts: Date.now(), clientMsgId, failed: describeError(error, "upload") });
      return;
    }
    // The sender knows the file: show it at once (its image from a fresh link) while it is sent.
    await this.sendBody(conversationId, { type: "file", attachmentId }, clientMsgId, "upload", { ...shown, attachmentId });
  }

  /** Retry a failed message: the same clientMsgId, so it is stored at most once. */
  private retry(m: ChatMessage): void {
    const file = m.clientMsgId ? this.files.get(m.clientMsgId) : undefined;
    if (m.body.type === "file" && file && !m.body.attachmentId) void this.sendFile(file, m);
    else if (m.body.type === "file" && m.body.attachmentId) void this.sendBody(m.conversationId, { type: "file", attachmentId: m.body.attachmentId }, m.clientMsgId ?? crypto.randomUUID(), "upload", m.body);
    else void this.sendText(m.body.text ?? "", m);
  }

  /** A download link for an attachment, fetched when missing or about to expire (links last at most 300 s). */
  link(attachmentId: string, force = false): Promise<Link> {
    const known = this.links.get(attachmentId);
    if (!force && known && known.until > Date.now() + 15_000) return Promise.resolve(known);
    const asked = this.linkRequests.get(attachmentId);
    if (asked) return asked;
    const request = this.http
      .getAttachment(attachmentId)
      .then((a) => {
        const link = { url: a.url, until: Date.now() + a.expiresIn * 1000 };
        this.links.set(attachmentId, link);
        return link;
      })
      .finally(() => this.linkRequests.delete(attachmentId));
    this.linkRequests.set(attachmentId, request);
    return request;
  }

  /** Open a file's download with a fresh link. */
  private async download(attachmentId: string, name: string): Promise<void> {
    try {
      const { url } = await this.link(attachmentId);
      const a = h("a", { href: url, download: name, rel: "noopener", hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
    } catch (error) {
      this.toast(describeError(error, "download"));
    }
  }

  /** Reply to `message` from the composer (undefined: stop replying). */
  setReply(message: ChatMessage | undefined): void {
    this.replyTo = message;
    this.renderReplyBar();
    if (message) (this.els.composer as HTMLTextAreaElement | undefined)?.focus();
  }

  /** Ask, then delete `message` for everyone. */
  private confirmDelete(message: ChatMessage): void {
    const mine = message.senderId === this.me;
    this.dialog(
      "Delete message?",
      [h("p", { class: "muted" }, mine ? "It will be removed for everyone in this conversation." : `This removes ${message.senderId}'s message for everyone in this group.`)],
      "Delete",
      "delete",
      async () => {
        // A refusal is told in the toast; the dialog closes either way.
        await this.sendEvent(message.conversationId, { type: "delete", target: message.seq }, "delete");
      },
    );
  }

  /** Save an inline edit; unchanged text just closes the editor. */
  private async saveEdit(message: ChatMessage, text: string): Promise<void> {
    const trimmed = text.trim();
    this.editing = undefined;
    if (trimmed && trimmed !== message.body.text) {
      if ([...trimmed].length > 4000) this.toast(describeError({ code: 1006 }, "edit"));
      else await this.sendEvent(message.conversationId, { type: "edit", target: message.seq, text: trimmed }, "edit");
    }
    this.renderMessages(false);
    (this.els.composer as HTMLTextAreaElement | undefined)?.focus();
  }

  /** May the caller delete `message`? Their own, or anyone's as a group's owner or admin. */
  private canDelete(message: ChatMessage): boolean {
    if (!isOn(this.features, "delete")) return false;
    if (message.senderId === this.me) return true;
    const role = this.groups.get(message.conversationId)?.role;
    return role === "owner" || role === "admin";
  }

  private onComposerInput(): void {
    const id = this.active;
    if (!id || !this.conversations.has(id) || !this.client?.connected || !isOn(this.features, "typing")) return;
    const now = Date.now();
    if (now - this.lastTypingSent > TYPING_SEND_EVERY_MS) {
      this.lastTypingSent = now;
      void this.client.typing(id, "start").catch(() => undefined);
    }
    clearTimeout(this.typingStopTimer);
    this.typingStopTimer = setTimeout(() => this.stopTyping(), TYPING_STOP_AFTER_MS);
  }

  private stopTyping(): void {
    clearTimeout(this.typingStopTimer);
    if (this.lastTypingSent && this.active && this.conversations.has(this.active) && this.client?.connected) {
      void this.client.typing(this.active, "stop").catch(() => undefined);
    }
    this.lastTypingSent = 0;
  }

  async startDm(userId: string): Promise<void> {
    const id = dmId(this.me, userId);
    if (!this.messages.has(id)) this.messages.set(id, []);
    // Not awaited: the dialog closes at once, and the history fills in behind it.
    void this.open(id);
  }

  async createGroup(name: string, members: string[]): Promise<void> {
    const group = await this.http.createGroup(name, members);
    this.groups.set(group.conversationId, { members: group.members.map((m) => m.userId), role: "owner" });
    this.conversations.set(group.conversationId, { conversationId: group.conversationId, type: "group", name: group.name, lastSeq: 0, readSeq: 0, unread: 0 });
    this.groupSizes.set(group.conversationId, group.members.length);
    void this.open(group.conversationId);
    void this.refreshConversations();
  }

  // ------------------------------------------------------------------ views

  private renderShell(): void {
    const banner = h("div", { class: "banner", role: "status", "aria-live": "polite", id: "connection-banner", hidden: true });
    const status = h("span", { class: "pill", id: "connection-status", "data-state": "connecting" }, "Connecting");
    const list = h("ul", { class: "conversations", id: "conversation-list", "aria-label": "Conversations" });
    const chat = h("section", { class: "chat", id: "chat", "aria-label": "Conversation" });
    const toast = h("div", { class: "toast", role: "alert", id: "toast", hidden: true });
    const call = h("section", { class: "call", id: "call", "aria-label": "Call", hidden: true });
    const notifications = h("button", { type: "button", class: "ghost toggle", id: "notifications", "aria-pressed": "false", onclick: () => void this.togglePush() });
    const account = h("button", { type: "button", class: "ghost", id: "account", "aria-expanded": "false", "aria-controls": "account-menu", onclick: () => this.toggleAccountMenu() }, "Account");
    const accountMenu = h(
      "div",
      {
        class: "account-menu",
        id: "account-menu",
        role: "group",
        "aria-label": "Account",
        hidden: true,
        onkeydown: (e: KeyboardEvent) => {
          if (e.key !== "Escape") return;
          this.toggleAccountMenu(false);
          account.focus();
        },
      },
      h("button", { type: "button", class: "ghost", id: "change-password", onclick: () => this.dialogPassword() }, "Change password"),
      h("button", { type: "button", class: "ghost", id: "sign-out-everywhere", onclick: () => this.dialogSignOutEverywhere() }, "Sign out everywhere"),
    );
    this.els = { banner, status, list, chat, toast, call, notifications, account, accountMenu };
    fill(
      this.root,
      h(
        "div",
        { class: "app" },
        h(
          "aside",
          { class: "sidebar", "aria-label": "Your conversations" },
          h(
            "header",
            { class: "me" },
            h("span", { class: "avatar", "aria-hidden": "true" }, this.me.slice(0, 1).toUpperCase()),
            h("div", { class: "me-text" }, h("strong", { id: "me" }, this.me), status),
            account,
            h("button", { type: "button", class: "ghost", onclick: () => void this.signOut() }, "Sign out"),
          ),
          accountMenu,
          h(
            "div",
            { class: "actions" },
            h("button", { type: "button", id: "new-dm", class: "secondary", onclick: () => this.dialogDm() }, "New message"),
            h("button", { type: "button", id: "new-group", class: "secondary", onclick: () => this.dialogGroup() }, "New group"),
          ),
          h("div", { class: "settings" }, notifications),
          list,
        ),
        h("main", { class: "main" }, banner, chat),
        call,
        toast,
      ),
    );
    this.setPushState(this.pushState);
    this.renderList();
    this.renderChat();
  }

  /**
   * Draw the conversation list. Rows are kept per conversation and updated in place: the
   * list redraws whenever a page, a push or presence arrives, and a row rebuilt between a
   * click's mousedown and mouseup would lose that click (the conversation would not open).
   */
  renderList(): void {
    const list = this.els.list;
    if (!list) return;
    const items = sortConversations([...this.conversations.values()]);
    if (items.length === 0) {
      this.rows.clear();
      fill(list, h("li", { class: "empty muted" }, "No conversations yet. Start one with New message."));
      return;
    }
    for (const id of [...this.rows.keys()]) if (!this.conversations.has(id)) this.rows.delete(id);
    reconcile(
      list,
      items.map((c) => this.updateRow(c)),
    );
  }

  private updateRow(c: ConversationView): HTMLLIElement {
    let row = this.rows.get(c.conversationId);
    if (!row) {
      const button = h("button", { type: "button", class: "conversation", "data-id": c.conversationId, onclick: () => void this.open(c.conversationId) });
      const dot = h("span", { class: "dot" });
      const avatar = h("span", { class: "avatar" + (c.type === "group" ? " group" : ""), "aria-hidden": "true" });
      const title = h("span", { class: "title" });
      const time = h("span", { class: "time muted" });
      const preview = h("span", { class: "preview muted" });
      const badge = h("span", { class: "badge" });
      const lines = h("span", { class: "row" }, preview);
      button.append(avatar, h("span", { class: "conversation-text" }, h("span", { class: "row" }, title, time), lines));
      const id = c.conversationId;
      const mute = h("button", { type: "button", class: "icon mute", "data-id": id, onclick: () => void this.toggleMute(id) });
      row = { li: h("li", { class: "conversation-item" }, button, mute), button, mute, avatar, dot, title, time, preview, badge, lines };
      this.rows.set(c.conversationId, row);
    }
    const peer = dmPeer(c.conversationId, this.me);
    const title = titleOf(c, this.me);
    const online = peer !== undefined && peer !== this.me ? this.online.get(peer) : undefined;
    const active = c.conversationId === this.active;
    row.button.className = "conversation" + (active ? " active" : "");
    if (active) row.button.setAttribute("aria-current", "true");
    else row.button.removeAttribute("aria-current");
    row.button.setAttribute("aria-label", `${title}${c.unread ? `, ${c.unread} unread` : ""}${online ? ", online" : ""}${c.muted ? ", muted" : ""}`);
    const muted = c.muted === true;
    // Redrawn only when it changes: a button rebuilt under a click would lose it.
    if (row.mute.getAttribute("aria-pressed") !== String(muted) || row.mute.getAttribute("aria-label") !== `Mute ${title}`) {
      row.mute.setAttribute("aria-pressed", String(muted));
      row.mute.setAttribute("aria-label", `Mute ${title}`);
      row.mute.title = muted ? `Muted: no notifications from ${title}. Select to unmute.` : `Mute ${title}: no notifications from it`;
      fill(row.mute, icon(muted ? "bellOff" : "bell"));
    }
    row.li.classList.toggle("muted-conversation", muted);
    row.avatar.className = "avatar" + (c.type === "group" ? " group" : "");
    setText(row.avatar, c.type === "group" ? "#" : title.slice(0, 1).toUpperCase());
    row.dot.className = "dot" + (online ? " on" : "");
    if (online !== undefined) row.avatar.append(row.dot);
    else row.dot.remove();
    setText(row.title, title);
    setText(row.time, c.lastTs ? timeLabel(c.lastTs) : "");
    row.time.hidden = !c.lastTs;
    setText(row.preview, c.lastText ?? (c.type === "group" ? "Group" : ""));
    setText(row.badge, c.unread > 99 ? "99+" : String(c.unread));
    row.badge.dataset.unread = String(c.unread);
    if (c.unread > 0) row.lines.append(row.badge);
    else row.badge.remove();
    return row.li;
  }

  private renderChat(): void {
    const chat = this.els.chat;
    if (!chat) return;
    const id = this.active;
    this.drawn.clear();
    this.headerSig = "";
    if (!id) {
      fill(chat, h("div", { class: "placeholder" }, h("h2", {}, "No conversation open"), h("p", { class: "muted" }, "Pick one on the left, or start a new message or group.")));
      this.els.messages = undefined as never;
      return;
    }
    const header = h("header", { class: "chat-header", id: "chat-header" });
    const messages = h("ol", { class: "messages", id: "messages", role: "log", "aria-live": "polite", "aria-label": "Messages", tabindex: "0" });
    messages.addEventListener("scroll", () => {
      if (messages.scrollTop < 80 && this.older.get(id) != null) void this.loadOlder(id);
    });
    const typing = h("p", { class: "typing muted", id: "typing", "aria-live": "polite" });
    const composer = h("textarea", { id: "composer", rows: 1, placeholder: "Write a message", "aria-label": "Message", maxlength: 8000 });
    composer.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        form.requestSubmit();
      } else if (e.key === "Escape" && this.replyTo) {
        e.preventDefault();
        this.setReply(undefined);
      }
    });
    composer.addEventListener("input", () => this.onComposerInput());
    composer.addEventListener("paste", (e) => {
      const files = [...(e.clipboardData?.files ?? [])];
      if (files.length === 0) return;
      e.preventDefault();
      for (const file of files) void this.sendFile(file);
    });
    const picker = h("input", { type: "file", id: "file-input", multiple: true, hidden: true, "aria-hidden": "true", tabindex: "-1" });
    picker.addEventListener("change", () => {
      for (const file of [...(picker.files ?? [])]) void this.sendFile(file);
      picker.value = "";
    });
    const attach = h("button", { type: "button", class: "icon", id: "attach", "aria-label": "Attach a file", title: "Attach a file", onclick: () => picker.click() }, icon("attach"));
    const replyBar = h("div", { class: "reply-bar", id: "reply-bar", hidden: true });
    const form = h(
      "form",
      {
        class: "composer",
        onsubmit: (e: Event) => {
          e.preventDefault();
          const text = composer.value.trim();
          if (!text) return;
          composer.value = "";
          void this.sendText(text);
        },
      },
      isOn(this.features, "file") && attach,
      isOn(this.features, "file") && picker,
      composer,
      h("button", { type: "submit", class: "primary", id: "send" }, "Send"),
    );
    // Files dropped anywhere on the conversation are sent to it.
    chat.ondragover = (e: DragEvent) => {
      if (!e.dataTransfer?.types.includes("Files") || !isOn(this.features, "file")) return;
      e.preventDefault();
      chat.classList.add("dropping");
    };
    chat.ondragleave = (e: DragEvent) => {
      if (!chat.contains(e.relatedTarget as Node | null)) chat.classList.remove("dropping");
    };
    chat.ondrop = (e: DragEvent) => {
      chat.classList.remove("dropping");
      const files = [...(e.dataTransfer?.files ?? [])];
      if (files.length === 0 || !isOn(this.features, "file")) return;
      e.preventDefault();
      for (const file of files) void this.sendFile(file);
    };
    Object.assign(this.els, { header, messages, typing, composer, replyBar });
    fill(chat, header, messages, typing, replyBar, form);
    this.renderHeader();
    this.renderMessages(true);
    this.renderTyping();
    this.renderReplyBar();
    composer.focus();
  }

  /** The quoted message the composer replies to, above it. */
  private renderReplyBar(): void {
    const bar = this.els.replyBar;
    if (!bar) return;
    const target = this.replyTo;
    bar.hidden = !target;
    if (!target) {
      fill(bar);
      return;
    }
    fill(
      bar,
      h("div", { class: "quote" }, h("strong", {}, target.senderId === this.me ? "Replying to yourself" : `Replying to ${target.senderId}`), h("span", { class: "quote-text" }, bodyText(target))),
      h("button", { type: "button", class: "icon", id: "cancel-reply", "aria-label": "Cancel the reply", title: "Cancel the reply (Escape)", onclick: () => this.setReply(undefined) }, icon("close")),
    );
  }

  private renderHeader(): void {
    const header = this.els.header;
    const id = this.active;
    if (!header || !id) return;
    const conv = this.conversations.get(id) ?? { conversationId: id, name: undefined };
    const peer = dmPeer(id, this.me);
    const online = peer !== undefined && peer !== this.me ? this.online.get(peer) : undefined;
    const size = this.groupSizes.get(id);
    const presence = online === undefined ? "" : online ? "Online" : "Offline";
    const sub = peer !== undefined ? (peer === this.me ? "Notes to yourself" : presence) : size ? `${size} members` : "Group";
    const canCall = peer !== undefined && peer !== this.me;
    // No call while one is on, or while the signalling socket is down.
    const callable = this.connection === "online" && !this.call?.busy;
    // Redrawn only when something shown changes: a call button rebuilt under a click loses it.
    const sig = JSON.stringify([id, titleOf(conv, this.me), online, sub, canCall, callable]);
    if (sig === this.headerSig) return;
    this.headerSig = sig;
    fill(
      header,
      h("div", { class: "chat-title" }, h("h2", { id: "chat-title" }, titleOf(conv, this.me)), h("span", { class: "muted", id: "chat-sub" }, online !== undefined && h("span", { class: "dot inline" + (online ? " on" : ""), "aria-hidden": "true" }), sub)),
      canCall &&
        h(
          "div",
          { class: "call-buttons" },
          h("button", { type: "button", class: "secondary", id: "audio-call", "aria-label": `Audio call ${peer}`, disabled: !callable, onclick: () => void this.startCall(peer, false) }, "Audio call"),
          h("button", { type: "button", class: "secondary", id: "video-call", "aria-label": `Video call ${peer}`, disabled: !callable, onclick: () => void this.startCall(peer, true) }, "Video call"),
        ),
    );
  }

  renderMessages(stickToBottom: boolean): void {
    const list = this.els.messages;
    const id = this.active;
    if (!list || !id) return;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const messages = resolveMessages(this.messages.get(id) ?? []);
    const bySeq = new Map(messages.filter((m) => m.seq > 0).map((m) => [m.seq, m]));
    const more = this.older.get(id);
    const isGroup = id.startsWith("grp:");
    const used = new Set<string>();
    const item = (key: string, sig: string, build: () => HTMLElement): HTMLElement => {
      used.add(key);
      const known = this.drawn.get(key);
      if (known && known.sig === sig) return known.el;
      const el = build();
      this.drawn.set(key, { sig, el });
      return el;
    };
    const note = (key: string, text: string) => item(`note:${key}`, text, () => h("li", { class: "history-start muted" }, text));
    const items: Node[] = [];
    if (more === null && messages.length > 0) items.push(note("start", "Start of the conversation"));
    if (more != null) items.push(note("more", "Scroll up for older messages"));
    if (messages.length === 0 && more !== undefined) items.push(note("empty", "No messages yet. Say hello!"));
    let previous: ChatMessage | undefined;
    for (const m of messages) {
      if (m.body.type === "system") {
        const text = bodyText(m);
        items.push(item(`s:${m.seq}`, text, () => h("li", { class: "system muted", "data-seq": m.seq }, text)));
        previous = undefined;
        continue;
      }
      const key = m.seq > 0 ? `s:${m.seq}` : `c:${m.clientMsgId ?? ""}`;
      const grouped = previous?.senderId === m.senderId && m.ts - previous.ts < 5 * 60_000;
      const replied = m.body.replyTo !== undefined ? bySeq.get(m.body.replyTo) : undefined;
      const view = {
        grouped,
        isGroup,
        canDelete: m.seq > 0 && this.canDelete(m),
        editing: this.editing === key,
        quote: replied ? [replied.senderId, bodyText(replied)] : m.body.replyTo !== undefined ? null : undefined,
      };
      const sig = JSON.stringify([m, view]);
      items.push(item(key, sig, () => this.buildMessage(m, key, view)));
      previous = m;
    }
    for (const key of [...this.drawn.keys()]) if (!used.has(key)) this.drawn.delete(key);
    reconcile(list, items);
    this.renderSeen();
    if (stickToBottom || atBottom) list.scrollTop = list.scrollHeight;
  }

  /** One message: sender, quoted reply, content, reactions, its actions and its state. */
  private buildMessage(
    m: ChatMessage,
    key: string,
    view: { grouped: boolean; isGroup: boolean; canDelete: boolean; editing: boolean; quote: (string | undefined)[] | null | undefined },
  ): HTMLElement {
    const mine = m.senderId === this.me;
    const deleted = m.body.type === "deleted";
    const stored = m.seq > 0 && !m.pending && !m.failed;
    const classes = ["message", mine && "mine", view.grouped && "grouped", m.pending && "pending", m.failed && "failed", deleted && "deleted"].filter(Boolean).join(" ");
    const li = h("li", { class: classes, "data-seq": m.seq || undefined, "data-sender": m.senderId, "data-key": key });
    if (view.isGroup && !mine && !view.grouped) li.append(h("span", { class: "sender" }, m.senderId));
    const bubble = h("div", { class: "bubble" });
    if (view.quote !== undefined && !deleted) {
      const [who, text] = view.quote ?? [undefined, "The original message is not loaded"];
      bubble.append(
        h(
          "button",
          { type: "button", class: "reply-quote", "aria-label": `Replying to ${who ?? "an earlier message"}: ${text ?? ""}. Show it`, onclick: () => void this.jumpTo(m.conversationId, m.body.replyTo ?? 0) },
          who && h("strong", {}, who === this.me ? "You" : who),
          h("span", { class: "quote-text" }, text),
        ),
      );
    }
    if (deleted) {
      bubble.append(h("span", { class: "text deleted-text" }, "Message deleted"));
    } else if (view.editing) {
      bubble.append(this.buildEditor(m));
    } else if (m.body.type === "file") {
      bubble.append(this.buildFile(m));
      if (m.body.caption) bubble.append(h("span", { class: "text" }, m.body.caption));
    } else {
      bubble.append(h("span", { class: "text" }, bodyText(m)));
    }
    if (m.edited && !deleted && !view.editing) bubble.append(h("span", { class: "edited", title: `Edited ${timeLabel(m.edited.ts)}` }, " (edited)"));
    const line = h("div", { class: "bubble-line" }, bubble);
    if (stored && !deleted && !view.editing) line.append(this.buildActions(m, view.canDelete));
    li.append(line);
    const chips = reactionChips(m.reactions, this.me);
    if (chips.length > 0 && !deleted) {
      li.append(
        h(
          "div",
          { class: "reactions", role: "group", "aria-label": "Reactions" },
          chips.map(([reaction, count, yours]) =>
            h(
              "button",
              {
                type: "button",
                class: "chip" + (yours ? " yours" : ""),
                "data-key": reaction,
                "aria-pressed": String(yours),
                "aria-label": `${reaction} ${count}${yours ? ", including you: remove yours" : ": add yours"}`,
                onclick: () => void this.react(m, reaction),
              },
              `${reaction} ${count}`,
            ),
          ),
        ),
      );
    }
    const status = m.uploading ? "Uploading…" : m.pending ? "Sending…" : undefined;
    li.append(
      h(
        "span",
        { class: "meta muted" },
        m.failed
          ? h("span", {}, m.failed, " ", h("button", { type: "button", class: "link", onclick: () => this.retry(m) }, "Retry"))
          : status
            ? [m.uploading && h("progress", { class: "upload", "aria-label": `Uploading ${m.body.name ?? "the file"}` }), status]
            : timeLabel(m.ts),
      ),
    );
    return li;
  }

  /** React, reply, edit (own text) and delete (own, or as a group's owner or admin). */
  private buildActions(m: ChatMessage, canDelete: boolean): HTMLElement {
    const picker = h(
      "div",
      { class: "picker", role: "group", "aria-label": "Pick a reaction", hidden: true },
      REACTIONS.map((reaction) => {
        const yours = (m.reactions?.[reaction] ?? []).includes(this.me);
        return h(
          "button",
          {
            type: "button",
            class: "icon" + (yours ? " yours" : ""),
            "aria-label": `React with ${reaction}`,
            "aria-pressed": String(yours),
            onclick: () => {
              picker.hidden = true;
              void this.react(m, reaction);
            },
          },
          reaction,
        );
      }),
    );
    picker.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        picker.hidden = true;
        (picker.previousElementSibling?.querySelector(".react") as HTMLElement | null)?.focus();
      }
    });
    const button = (cls: "react" | "reply" | "edit" | "delete", label: string, onclick: () => void) =>
      h("button", { type: "button", class: `icon ${cls}`, "aria-label": label, title: label, onclick }, icon(cls));
    const mine = m.senderId === this.me;
    return h(
      "div",
      { class: "actions-wrap" },
      h(
        "div",
        { class: "message-actions", role: "toolbar", "aria-label": "Message actions" },
        isOn(this.features, "reaction") &&
          button("react", "Add a reaction", () => {
            picker.hidden = !picker.hidden;
            picker.querySelector("button")?.focus();
          }),
        button("reply", "Reply", () => this.setReply(m)),
        mine && m.body.type === "text" && isOn(this.features, "edit") && button("edit", "Edit", () => {
          this.editing = m.seq > 0 ? `s:${m.seq}` : undefined;
          this.renderMessages(false);
          (this.els.messages?.querySelector(".edit-input") as HTMLTextAreaElement | null)?.focus();
        }),
        canDelete && button("delete", "Delete", () => this.confirmDelete(m)),
      ),
      picker,
    );
  }

  /** The inline editor of an own text message: Enter saves, Escape cancels. */
  private buildEditor(m: ChatMessage): HTMLElement {
    const input = h("textarea", { class: "edit-input", rows: 2, "aria-label": "Edit message", maxlength: 8000 });
    input.value = m.body.text ?? "";
    const cancel = () => {
      this.editing = undefined;
      this.renderMessages(false);
      (this.els.composer as HTMLTextAreaElement | undefined)?.focus();
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.preventDefault();
        cancel();
      } else if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        void this.saveEdit(m, input.value);
      }
    });
    return h(
      "form",
      {
        class: "edit-form",
        onsubmit: (e: Event) => {
          e.preventDefault();
          void this.saveEdit(m, input.value);
        },
      },
      input,
      h(
        "div",
        { class: "edit-buttons" },
        h("span", { class: "muted" }, "Escape to cancel, Enter to save"),
        h("button", { type: "button", class: "ghost", onclick: cancel }, "Cancel"),
        h("button", { type: "submit", class: "primary" }, "Save"),
      ),
    );
  }

  /** A file: an image preview (from a fresh link, fetched again once expired), and its download. */
  private buildFile(m: ChatMessage): HTMLElement {
    const { attachmentId, name = "file", size = 0, contentType = "" } = m.body;
    const box = h("div", { class: "file" });
    if (attachmentId && contentType.startsWith("image/")) {
      const img = h("img", { class: "attachment-image", alt: name, decoding: "async" });
      img.addEventListener("load", () => {
        // The image grew its message: stay at the bottom if the reader was there.
        const list = this.els.messages;
        if (list && list.scrollHeight - list.scrollTop - list.clientHeight < img.height + 80) list.scrollTop = list.scrollHeight;
      });
      let retried = false;
      img.addEventListener("error", () => {
        // The link may have expired (they last at most 300 s): fetch a new one, once.
        if (retried || !img.getAttribute("src")) return;
        retried = true;
        void this.link(attachmentId, true).then((l) => (img.src = l.url)).catch(() => undefined);
      });
      void this.link(attachmentId)
        .then((l) => (img.src = l.url))
        .catch(() => img.replaceWith(h("span", { class: "muted" }, "The image is not available.")));
      box.append(img);
    }
    box.append(
      attachmentId
        ? h(
            "button",
            { type: "button", class: "file-link", "aria-label": `Download ${name}, ${sizeLabel(size)}`, onclick: () => void this.download(attachmentId, name) },
            h("span", { class: "file-icon" }, icon("download")),
            h("span", { class: "file-name" }, name),
            h("span", { class: "file-size" }, sizeLabel(size)),
          )
        : h("span", { class: "file-link" }, h("span", { class: "file-name" }, name), h("span", { class: "file-size" }, sizeLabel(size))),
    );
    return box;
  }

  /** Show the message `seq` (a reply's original), loading older pages until it is there. */
  private async jumpTo(conversationId: string, seq: number): Promise<void> {
    for (let pages = 0; pages < 20; pages++) {
      const el = this.els.messages?.querySelector<HTMLElement>(`li[data-seq="${seq}"]`);
      if (el) {
        el.scrollIntoView({ block: "center", behavior: "smooth" });
        el.classList.add("flash");
        el.tabIndex = -1;
        el.focus({ preventScroll: true });
        setTimeout(() => el.classList.remove("flash"), 1600);
        return;
      }
      if (this.active !== conversationId || this.older.get(conversationId) == null) break;
      await this.loadOlder(conversationId);
    }
    this.toast("That message is no longer available.");
  }

  private renderSeen(): void {
    const list = this.els.messages;
    const id = this.active;
    if (!list || !id) return;
    list.querySelector(".seen")?.remove();
    const mine = (this.messages.get(id) ?? []).filter((m) => m.senderId === this.me && m.seq > 0).at(-1);
    if (!mine) return;
    const readers = [...(this.readers.get(id) ?? new Map<string, number>()).entries()].filter(([, seq]) => seq >= mine.seq).map(([u]) => u);
    if (readers.length === 0) return;
    const text = id.startsWith("dm:") ? "Seen" : `Seen by ${readers.sort().join(", ")}`;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const seen = h("li", { class: "seen muted", id: "seen", "aria-label": text }, text);
    const after = list.querySelector(`[data-seq="${mine.seq}"]`);
    if (after) after.after(seen);
    else list.append(seen);
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  private renderTyping(): void {
    const el = this.els.typing;
    const id = this.active;
    if (!el || !id) return;
    const now = Date.now();
    const who = [...(this.typingNow.get(id) ?? new Map<string, number>()).entries()].filter(([, until]) => until > now).map(([u]) => u);
    fill(el, who.length === 0 ? "" : who.length === 1 ? `${who[0]} is typing…` : `${who.join(", ")} are typing…`);
  }

  private toast(text: string): void {
    const el = this.els.toast;
    if (!el) return;
    fill(el, text);
    el.hidden = false;
    clearTimeout((el as unknown as { timer?: ReturnType<typeof setTimeout> }).timer);
    (el as unknown as { timer?: ReturnType<typeof setTimeout> }).timer = setTimeout(() => (el.hidden = true), 6000);
  }

  // ------------------------------------------------------------------ dialogs

  private dialog(title: string, fields: HTMLElement[], submitText: string, doing: Doing, action: (form: HTMLFormElement) => Promise<void>): void {
    const error = h("p", { class: "form-error", role: "alert" });
    const submit = h("button", { type: "submit", class: "primary" }, submitText);
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": "dialog-title" });
    const form = h(
      "form",
      {
        onsubmit: (e: Event) => {
          e.preventDefault();
          submit.disabled = true;
          action(form)
            .then(() => {
              dialog.close();
              (this.els.composer as HTMLTextAreaElement | undefined)?.focus();
            })
            .catch((err: unknown) => fill(error, describeError(err, doing)))
            .finally(() => {
              submit.disabled = false;
            });
        },
      },
      h("h2", { id: "dialog-title" }, title),
      fields,
      error,
      h("div", { class: "dialog-buttons" }, h("button", { type: "button", class: "ghost", onclick: () => dialog.close() }, "Cancel"), submit),
    );
    dialog.append(form);
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
  }

  private dialogDm(): void {
    const input = h("input", { id: "dm-user", name: "userId", required: true, autocapitalize: "none", spellcheck: "false", pattern: "[a-z0-9][a-z0-9_.\\-]{2,31}" });
    this.dialog("New message", [h("label", { for: "dm-user" }, "To (user name)"), input], "Start", "dm", async () => this.startDm(input.value.trim().toLowerCase()));
  }

  private dialogGroup(): void {
    const name = h("input", { id: "group-name", name: "name", required: true, maxlength: 100 });
    const members = h("input", { id: "group-members", name: "members", placeholder: "bob, carol" });
    this.dialog(
      "New group",
      [h("label", { for: "group-name" }, "Group name"), name, h("label", { for: "group-members" }, "Members (user names, separated by commas)"), members],
      "Create group",
      "group",
      async () =>
        this.createGroup(
          name.value.trim(),
          members.value.split(/[\s,]+/).map((s) => s.trim().toLowerCase()).filter((s) => s && s !== this.me),
        ),
    );
  }

  // ------------------------------------------------------------------ calls

  private async startCall(peer: string, video: boolean): Promise<void> {
    try {
      await this.call?.start(peer, video);
    } catch (error) {
      this.toast(describeError(error, "call"));
    }
  }

  renderCall(state: CallState): void {
    const el = this.els.call;
    if (!el) return;
    el.dataset.phase = state.phase;
    this.renderHeader();
    if (state.phase === "idle") {
      el.hidden = true;
      return;
    }
    if (state.phase === "ended") {
      if (state.note) this.toast(state.note);
      el.hidden = true;
      fill(el);
      return;
    }
    el.hidden = false;
    const words: Record<string, string> = {
      calling: `Calling ${state.peer}…`,
      ringing: `Ringing ${state.peer}…`,
      incoming: `${state.peer} is calling you${state.video ? " (video)" : ""}`,
      connecting: "Connecting…",
      connected: `In a call with ${state.peer}`,
    };
    let remote = el.querySelector<HTMLVideoElement>("#remote-video");
    let local = el.querySelector<HTMLVideoElement>("#local-video");
    if (!remote || !local) {
      remote = h("video", { id: "remote-video", autoplay: true, playsInline: true, "aria-label": "The other person's video" });
      local = h("video", { id: "local-video", autoplay: true, playsInline: true, muted: true, "aria-label": "Your video" });
      fill(el, h("div", { class: "videos" }, remote, local), h("p", { class: "call-status", id: "call-status", role: "status" }), h("div", { class: "call-controls", id: "call-controls" }));
    }
    if (state.remote && remote.srcObject !== state.remote) remote.srcObject = state.remote;
    if (state.local && local.srcObject !== state.local) local.srcObject = state.local;
    local.hidden = !state.video;
    remote.classList.toggle("audio-only", !state.video);
    fill(el.querySelector("#call-status")!, words[state.phase] ?? "");
    const controls = el.querySelector("#call-controls")!;
    if (state.phase === "incoming") {
      fill(
        controls,
        h("button", { type: "button", class: "accept", id: "call-accept", onclick: () => void this.call?.accept().catch((e: unknown) => this.toast(describeError(e, "call"))) }, "Accept"),
        h("button", { type: "button", class: "danger", id: "call-reject", onclick: () => void this.call?.reject() }, "Decline"),
      );
      controls.querySelector<HTMLButtonElement>("#call-accept")?.focus();
    } else if (!controls.querySelector("#call-hangup")) {
      fill(controls, h("button", { type: "button", class: "danger", id: "call-hangup", onclick: () => void this.call?.hangup() }, "Hang up"));
    }
  }
}
