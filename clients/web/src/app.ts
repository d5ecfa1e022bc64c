/**
 * The web client: sign-in, the conversation list, DM and group views, calls. Plain DOM:
 * each region is redrawn from the state below when it changes.
 */

import { HttpClient, ParleyClient } from "/parley.js";
import type { HeldMessage, IceServer, ServerEvent } from "/parley.js";
import { CallManager, type CallState } from "./calls.js";
import { fill, h } from "./dom.js";
import {
  bodyText,
  dmId,
  dmPeer,
  mergeMessages,
  sortConversations,
  timeLabel,
  titleOf,
  type ChatMessage,
  type ConversationView,
} from "./state.js";
import { describeError, type Doing } from "./words.js";

/** What `/config.json` hands the page: where the APIs are. */
export interface Config {
  httpUrl: string;
  wsUrl: string;
}

/**
 * What the server serves beyond protocol 1.0. Edits, deletes, reactions and files
 * (protocol 1.1 section 9) get their controls once the server has them: no control is
 * shown for something the server cannot do yet.
 */
export const features = { edits: false, deletes: false, reactions: false, files: false };

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
  active: string | undefined;
  connection: Connection = "connecting";
  call: CallManager | undefined;
  private loadingOlder = false;
  private lastTypingSent = 0;
  private typingStopTimer: ReturnType<typeof setTimeout> | undefined;
  private timers: ReturnType<typeof setInterval>[] = [];
  private removeListener: (() => void) | undefined;
  private ice: { servers: IceServer[]; until: number } | undefined;
  private els: Record<string, HTMLElement> = {};

  constructor(
    private readonly root: HTMLElement,
    readonly config: Config,
  ) {
    this.http = new HttpClient(config.httpUrl, {
      onTokens: (pair) => {
        if (pair) sessionStorage.setItem(SESSION_KEY, JSON.stringify(pair));
        else sessionStorage.removeItem(SESSION_KEY);
      },
    });
  }

  /** Resume the tab's session if it has one, else show the sign-in screen. */
  async start(): Promise<void> {
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
          fill(error, "");
          void this.signIn(mode, userId.value.trim(), password.value, displayName.value.trim())
            .catch((err: unknown) => fill(error, describeError(err, mode)))
            .finally(() => {
              submit.disabled = false;
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
    const client = new ParleyClient(this.config.wsUrl, this.http.tokenProvider, {});
    this.client = client;
    this.removeListener = client.addListener((event) => this.onEvent(event));
    this.call = new CallManager({ client, iceServers: () => this.iceServers(), onChange: (s) => this.renderCall(s) });
    this.renderShell();
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
  }

  async signOut(): Promise<void> {
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
    await this.http.logout().catch(() => undefined);
    this.me = "";
    this.active = undefined;
    for (const m of [this.conversations, this.messages, this.older, this.readers, this.typingNow, this.online]) m.clear();
    this.renderLogin();
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
      // The SDK gave up for good (the login was revoked, or the account suspended).
      void this.signOut().then(() => this.renderLogin("login", "Your session has ended. Please sign in again."));
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
      list = await this.http.conversations();
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
    if (!this.client?.connected || peers.length === 0) return;
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
      case "update": {
        const held = this.messages.get(event.conversationId);
        if (held) {
          this.messages.set(
            event.conversationId,
            held.map((m) => (m.seq === event.seq ? (event.message as unknown as ChatMessage) : m)),
          );
          if (event.conversationId === this.active) this.renderMessages(false);
        }
        break;
      }
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
  addMessages(conversationId: string, incoming: ChatMessage[], fromHistory = false): void {
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
    const newest = merged.filter((m) => m.seq > 0).at(-1);
    if (newest && newest.seq >= conv.lastSeq) {
      const isNew = newest.seq > conv.lastSeq;
      conv.lastSeq = newest.seq;
      conv.lastText = this.preview(newest);
      conv.lastTs = newest.ts;
      if (isNew && !fromHistory && newest.senderId !== this.me && conversationId !== this.active) {
        conv.unread = Math.max(0, conv.lastSeq - conv.readSeq);
      }
      if (newest.senderId === this.me) conv.readSeq = Math.max(conv.readSeq, newest.seq);
    }
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
      void this.client?.read(conversationId, seq).catch(() => undefined);
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
    this.active = conversationId;
    this.renderList();
    this.renderChat();
    this.markRead(conversationId);
    if (conversationId.startsWith("dm:")) void this.refreshPresence();
    if (!this.older.has(conversationId)) await this.loadOlder(conversationId);
    if (conversationId.startsWith("grp:") && !this.groupSizes.has(conversationId)) {
      this.http
        .getGroup(conversationId)
        .then((g) => {
          this.groupSizes.set(conversationId, g.members.length);
          this.renderHeader();
        })
        .catch(() => undefined);
    }
  }

  async loadOlder(conversationId: string): Promise<void> {
    if (this.loadingOlder) return;
    const before = this.older.get(conversationId);
    if (before === null) return;
    this.loadingOlder = true;
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
      this.loadingOlder = false;
    }
  }

  async sendText(text: string, retryOf?: ChatMessage): Promise<void> {
    const conversationId = this.active;
    const client = this.client;
    if (!conversationId || !client) return;
    if ([...text].length > 4000) {
      this.toast(describeError({ code: 1006 }, "send"));
      return;
    }
    const clientMsgId = retryOf?.clientMsgId ?? crypto.randomUUID();
    const pending: ChatMessage = { conversationId, seq: 0, senderId: this.me, body: { type: "text", text }, ts: Date.now(), clientMsgId, pending: true };
    const others = (this.messages.get(conversationId) ?? []).filter((m) => m.clientMsgId !== clientMsgId);
    this.messages.set(conversationId, [...others, pending]);
    this.renderMessages(true);
    this.stopTyping();
    const peer = dmPeer(conversationId, this.me);
    try {
      const ack = await client.send(text, peer !== undefined ? { to: peer, clientMsgId } : { conversationId, clientMsgId });
      this.addMessages(conversationId, [{ ...pending, seq: ack.seq, ts: ack.ts, pending: false }]);
    } catch (error) {
      pending.pending = false;
      pending.failed = describeError(error, "send");
      this.renderMessages(false);
    }
  }

  private onComposerInput(): void {
    const id = this.active;
    if (!id || !this.conversations.has(id) || !this.client?.connected) return;
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
    this.els = { banner, status, list, chat, toast, call };
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
            h("button", { type: "button", class: "ghost", onclick: () => void this.signOut() }, "Sign out"),
          ),
          h(
            "div",
            { class: "actions" },
            h("button", { type: "button", id: "new-dm", class: "secondary", onclick: () => this.dialogDm() }, "New message"),
            h("button", { type: "button", id: "new-group", class: "secondary", onclick: () => this.dialogGroup() }, "New group"),
          ),
          list,
        ),
        h("main", { class: "main" }, banner, chat),
        call,
        toast,
      ),
    );
    this.renderList();
    this.renderChat();
  }

  renderList(): void {
    const list = this.els.list;
    if (!list) return;
    const items = sortConversations([...this.conversations.values()]);
    if (items.length === 0) {
      fill(list, h("li", { class: "empty muted" }, "No conversations yet. Start one with New message."));
      return;
    }
    fill(
      list,
      items.map((c) => {
        const peer = dmPeer(c.conversationId, this.me);
        const title = titleOf(c, this.me);
        const online = peer !== undefined && peer !== this.me ? this.online.get(peer) : undefined;
        return h(
          "li",
          {},
          h(
            "button",
            {
              type: "button",
              class: "conversation" + (c.conversationId === this.active ? " active" : ""),
              "data-id": c.conversationId,
              "aria-current": c.conversationId === this.active ? "true" : undefined,
              "aria-label": `${title}${c.unread ? `, ${c.unread} unread` : ""}${online ? ", online" : ""}`,
              onclick: () => void this.open(c.conversationId),
            },
            h(
              "span",
              { class: "avatar" + (c.type === "group" ? " group" : "") , "aria-hidden": "true" },
              c.type === "group" ? "#" : title.slice(0, 1).toUpperCase(),
              online !== undefined && h("span", { class: "dot" + (online ? " on" : "") }),
            ),
            h(
              "span",
              { class: "conversation-text" },
              h("span", { class: "row" }, h("span", { class: "title" }, title), c.lastTs ? h("span", { class: "time muted" }, timeLabel(c.lastTs)) : null),
              h("span", { class: "row" }, h("span", { class: "preview muted" }, c.lastText ?? (c.type === "group" ? "Group" : "")), c.unread > 0 && h("span", { class: "badge", "data-unread": c.unread }, c.unread > 99 ? "99+" : c.unread)),
            ),
          ),
        );
      }),
    );
  }

  private renderChat(): void {
    const chat = this.els.chat;
    if (!chat) return;
    const id = this.active;
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
      }
    });
    composer.addEventListener("input", () => this.onComposerInput());
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
      composer,
      h("button", { type: "submit", class: "primary", id: "send" }, "Send"),
    );
    Object.assign(this.els, { header, messages, typing, composer });
    fill(chat, header, messages, typing, form);
    this.renderHeader();
    this.renderMessages(true);
    this.renderTyping();
    composer.focus();
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
    const messages = this.messages.get(id) ?? [];
    const more = this.older.get(id);
    const items: Node[] = [];
    if (more === null && messages.length > 0) items.push(h("li", { class: "history-start muted" }, "Start of the conversation"));
    if (more != null) items.push(h("li", { class: "history-start muted" }, "Scroll up for older messages"));
    if (messages.length === 0 && more !== undefined) items.push(h("li", { class: "history-start muted" }, "No messages yet. Say hello!"));
    let previous: ChatMessage | undefined;
    for (const m of messages) {
      if (m.body.type === "system") {
        items.push(h("li", { class: "system muted", "data-seq": m.seq }, bodyText(m)));
        previous = undefined;
        continue;
      }
      const mine = m.senderId === this.me;
      const grouped = previous?.senderId === m.senderId && m.ts - previous.ts < 5 * 60_000;
      const isGroup = id.startsWith("grp:");
      items.push(
        h(
          "li",
          { class: `message${mine ? " mine" : ""}${grouped ? " grouped" : ""}${m.pending ? " pending" : ""}${m.failed ? " failed" : ""}`, "data-seq": m.seq || undefined, "data-sender": m.senderId },
          isGroup && !mine && !grouped && h("span", { class: "sender" }, m.senderId),
          h("div", { class: "bubble" }, h("span", { class: "text" }, bodyText(m as HeldMessage as unknown as ChatMessage))),
          h(
            "span",
            { class: "meta muted" },
            m.pending ? "Sending…" : m.failed ? h("span", {}, m.failed, " ", h("button", { type: "button", class: "link", onclick: () => void this.sendText(m.body.text ?? "", m) }, "Retry")) : timeLabel(m.ts),
          ),
        ),
      );
      previous = m;
    }
    fill(list, items);
    this.renderSeen();
    if (stickToBottom || atBottom) list.scrollTop = list.scrollHeight;
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
