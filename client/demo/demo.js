// stomp-relay demo: a topic chat, personal notifications and a send-to-user form, on the browser client
// that the relay serves at /client/stomp-relay-client.js. Plain ES module, no build step.
// ?name=alice&transport=sockjs in the URL signs in at once (handy for screenshots and tests);
// &sockjs=xhr-streaming,xhr-polling narrows the SockJS transports (to see the HTTP fallbacks work).
import { createRelayClient } from '/client/stomp-relay-client.js';

const $ = (id) => document.getElementById(id);
const MAX_LOG_ITEMS = 200;

/** @type {import('/client/stomp-relay-client.js').RelayClient | undefined} */
let relay;
/** The notifications subscription (survives reconnects). */
let notifications;
let me = '';
let token = '';

function setState(state, label = state) {
  const pill = $('connection-state');
  pill.dataset.state = state;
  pill.textContent = label;
  for (const id of ['chat-send', 'chat-input']) $(id).disabled = state !== 'connected';
}

function time(date = new Date()) {
  return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** Appends a line to a log list; all text goes through textContent, never innerHTML. */
function appendLog(list, { who, text, system = false }) {
  const item = document.createElement('li');
  const when = document.createElement('span');
  when.className = 'when';
  when.textContent = time();
  item.append(when);
  if (who) {
    const name = document.createElement('span');
    name.className = 'who';
    name.textContent = who;
    item.append(name);
  }
  const body = document.createElement('span');
  if (system) body.className = 'system';
  body.textContent = text;
  item.append(body);
  list.append(item);
  while (list.children.length > MAX_LOG_ITEMS) list.firstElementChild.remove();
  list.scrollTop = list.scrollHeight;
}

/** A message body as {from, text}, whether the sender sent JSON or plain text. */
function readMessage(message) {
  try {
    const value = message.json();
    if (value && typeof value === 'object') return { from: value.from, text: String(value.text ?? JSON.stringify(value)) };
    return { text: String(value) };
  } catch {
    return { text: message.body };
  }
}

async function showInstance() {
  try {
    const res = await fetch('/instance', { headers: { accept: 'application/json' } });
    const body = await res.json();
    $('instance-id').textContent = body.instanceId ?? '?';
    showClusterHint(body);
  } catch {
    $('instance-id').textContent = 'unknown';
  }
}

/**
 * With one instance, the point of the relay (a push reaching a browser through another instance)
 * cannot be seen: say how to get more. `/instance` tells the broker kind and how many instances
 * this one knows of (presence).
 */
function showClusterHint({ broker, instances }) {
  const hint = $('cluster-hint');
  if (broker === 'memory') {
    hint.textContent = 'This relay runs alone on its embedded broker (no BROKER_URL): one instance, so pushes cannot cross instances here. '
      + 'To see a push reach this page through another instance, run `docker compose up` (two relays, RabbitMQ, nginx), '
      + 'or start two relays with the same BROKER_URL (see the README).';
  } else if (broker === 'rabbitmq' && instances === 1) {
    hint.textContent = 'Only this instance is connected to RabbitMQ right now: start another with the same BROKER_URL '
      + '(or run `docker compose up`) and push through it to see the message cross instances.';
  } else {
    hint.hidden = true;
    return;
  }
  hint.hidden = false;
}

/**
 * The instance holding this STOMP session, from the CONNECTED `server` header
 * (`stomp-relay/0.1.0 (relay1)`); the whole header when it names none.
 */
function socketInstance(server) {
  if (!server) return '?';
  const open = server.lastIndexOf('(');
  return open >= 0 && server.endsWith(')') ? server.slice(open + 1, -1) : server;
}

function signIn({ name, transport, tokenValue, sockjsTransports }) {
  me = name;
  token = tokenValue;
  $('sign-in').hidden = true;
  $('app').hidden = false;
  $('user-name').textContent = name;
  setState('connecting');
  showInstance();

  relay = createRelayClient({
    url: '',
    transport,
    sockjsTransports,
    login: name,
    token: token || undefined,
    onStateChange: (state) => {
      setState(state);
      watchNotifications();
    },
    onConnected: (info) => {
      $('user-name').textContent = info.userName ?? name;
      // Behind a load balancer this can differ from "Page from": the socket is what receives pushes.
      $('server-info').textContent = socketInstance(info.server);
      $('server-info').title = `CONNECTED server header: ${info.server ?? '(none)'}`;
      $('transport').textContent = info.transport;
      appendLog($('chat-log'), { text: `connected to ${info.server ?? 'the relay'} as ${info.userName ?? name}`, system: true });
      // After a failover the instance that served the page may be gone: ask again who answers now.
      showInstance();
    },
    onDisconnected: (reason) => {
      const why = reason.error?.message || reason.reason || `code ${reason.code ?? '?'}`;
      appendLog($('chat-log'), { text: `connection lost (${why}); reconnecting…`, system: true });
    },
    onError: (error) => {
      appendLog($('chat-log'), { text: `relay error ${error.code ?? ''}: ${error.message}`, system: true });
    },
  });

  relay.subscribe('/topic/chat', (message) => {
    const { from, text } = readMessage(message);
    appendLog($('chat-log'), { who: from ?? '?', text });
  });
  // After a reconnect the library resumes this subscription from the last notification it saw, so
  // what was pushed meanwhile (even through another instance, even if ours died) still arrives.
  notifications = relay.subscribeUser('/queue/notifications', (message) => {
    const { from, text } = readMessage(message);
    appendLog($('notifications'), { who: from ? `from ${from}` : '', text });
  }, {}, {
    onResumed: ({ recovered, gap }) => {
      if (!gap) showResumeNote(`recovered ${recovered} after reconnecting`);
    },
    // The relay's history could not cover the whole outage: an application would reload its
    // notifications from its own backend here. The demo has no backend, so it says so.
    onGap: () => showResumeNote('history gap: some notifications may be missing (an app would reload them now)', true),
  });
  watchNotifications();
}

/** The note under the notifications: what the last resume recovered, or that it had a gap. */
function showResumeNote(text, gap = false) {
  const note = $('resume-note');
  note.hidden = false;
  note.dataset.gap = String(gap);
  note.textContent = `${time()} ${text}`;
}

/** Shows whether the notifications subscription is confirmed on the current connection. */
function watchNotifications() {
  const live = $('notifications-live');
  const show = (active) => {
    live.dataset.active = String(active);
    live.textContent = active ? 'live' : 'subscribing…';
  };
  const current = notifications;
  if (!current) return;
  show(current.active);
  if (!current.active) current.whenActive().then(() => { if (notifications === current) show(current.active); });
}

async function signOut() {
  await relay?.close();
  relay = undefined;
  notifications = undefined;
  for (const id of ['chat-log', 'notifications']) $(id).replaceChildren();
  for (const id of ['server-info', 'instance-id', 'transport', 'user-name']) $(id).textContent = '—';
  $('push-result').textContent = '';
  $('resume-note').hidden = true;
  $('app').hidden = true;
  $('sign-in').hidden = false;
  setState('signed-out', 'signed out');
}

/**
 * Sends `text` to every session of `user` (their /user/queue/notifications, on any instance) as a
 * STOMP SEND to `/user/{user}/queue/notifications`: a private message, routed by the relay exactly
 * as a backend's `POST /push/:user` is. The page does not call the push API itself: it is for
 * backends (behind the compose gateway it is on the relays' admin port, and with JWTs it needs a
 * token with the `push` scope, which a user's token need not have).
 */
function push(user, text) {
  const result = $('push-result');
  result.classList.remove('error');
  if (!relay?.connected) {
    result.classList.add('error');
    result.textContent = 'not connected: sign in first';
    return;
  }
  const destination = `/user/${encodeURIComponent(user)}/queue/notifications`;
  try {
    relay.publish(destination, { from: me, text });
    result.textContent = `sent to ${user} (${destination})`;
  } catch (err) {
    result.classList.add('error');
    result.textContent = `not sent: ${err.message}`;
  }
}

$('login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const name = $('login-name').value.trim();
  if (!name) return;
  signIn({ name, transport: $('login-transport').value, tokenValue: $('login-token').value.trim() });
});

$('chat-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = $('chat-input');
  const text = input.value.trim();
  if (!text || !relay?.connected) return;
  relay.publish('/topic/chat', { from: me, text });
  input.value = '';
});

$('push-form').addEventListener('submit', (event) => {
  event.preventDefault();
  push($('push-user').value.trim(), $('push-text').value.trim());
});

$('sign-out').addEventListener('click', () => signOut());

const params = new URLSearchParams(location.search);
if (params.get('name')) {
  const transport = ['auto', 'websocket', 'sockjs'].includes(params.get('transport')) ? params.get('transport') : 'auto';
  const sockjsTransports = params.get('sockjs')?.split(',').map((t) => t.trim()).filter(Boolean);
  signIn({ name: params.get('name'), transport, tokenValue: params.get('token') ?? '', sockjsTransports: sockjsTransports?.length ? sockjsTransports : undefined });
}
