import http from 'node:http';
import express from 'express';
import session from 'express-session';
import passport from 'passport';
import { createRelay, PassportAuthenticator, type Relay } from '../../server/index';

/** The host's users (its own database, in a real application). */
interface User { id: string; name: string; role: 'admin' | 'member' }
const USERS: Record<string, User & { password: string }> = {
  alice: { id: 'alice', name: 'alice', role: 'admin', password: 'alice-password' },
  bob: { id: 'bob', name: 'bob', role: 'member', password: 'bob-password' },
};

export interface HostApp {
  server: http.Server;
  relay: Relay;
  close(): Promise<void>;
}

export async function startHostApp(options: { port: number; sessionSecret: string; brokerUrl?: string; logLevel?: string }): Promise<HostApp> {
  // 1. The host's login, as it already has it: express-session and passport.
  const sessions = session({
    secret: options.sessionSecret,
    resave: false,
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: 'lax' },
  });
  const auth = new passport.Passport();
  auth.serializeUser((user, done) => done(null, (user as User).id));
  auth.deserializeUser((id: string, done) => {
    const found = USERS[id];
    done(null, found ? { id: found.id, name: found.name, role: found.role } : false);
  });

  // 2. The relay: STOMP sessions are the host's users, named by the same session cookie.
  const relay = createRelay({
    brokerUrl: options.brokerUrl, // unset: the embedded broker, one instance
    logLevel: options.logLevel,
    serveDemo: false,
    httpPrefix: '/relay', // its HTTP routes under /relay: the host keeps /users/:user for itself
    authenticator: new PassportAuthenticator({ passport: auth, strategy: 'session', middleware: [sessions] }),
    // The HTTP API under /relay takes the cookie too; only admins may publish or end sessions.
    pushAuth: { passport: auth, strategy: 'session', authorize: (user, scope) => scope === 'push' || (user as User).role === 'admin' },
    // Per destination, on every SUBSCRIBE and SEND: admin topics for admins only.
    authorize: ({ principal, destination }) =>
      !destination.startsWith('/topic/admin.') || principal?.claims?.role === 'admin',
  });

  // SEND /app/chat/{room} → published on /topic/chat, with the room and the sender's name.
  relay.onMessage('/chat/{room}', { sendTo: '/topic/chat' }, (msg) => ({
    room: msg.params.room,
    from: msg.user,
    text: msg.json<{ text: string }>().text,
  }));
  // SUBSCRIBE /app/profile → answered once, to that subscription only.
  relay.onSubscribe('/profile', (sub) => ({ user: sub.user, since: 'today' }));

  // 3. The host's routes.
  const app = express();
  app.use(express.json());
  app.use(sessions);
  app.use(auth.session());
  app.post('/login', (req, res, next) => {
    const { name, password } = req.body as { name?: string; password?: string };
    const user = name === undefined ? undefined : USERS[name];
    if (!user || user.password !== password) {
      res.status(401).json({ error: 'wrong name or password' });
      return;
    }
    req.login({ id: user.id, name: user.name, role: user.role }, (err) => (err ? next(err) : res.status(204).end()));
  });
  app.post('/orders/:id/ship', async (req, res, next) => {
    const user = req.user as User | undefined;
    if (!user) {
      res.status(401).json({ error: 'sign in first' });
      return;
    }
    try {
      // Every session of this user, on any instance, subscribed to /user/queue/notifications.
      const sent = await relay.sendToUser(user.name, '/queue/notifications', { order: req.params.id, status: 'shipped' });
      res.status(202).json(sent);
    } catch (err) {
      next(err);
    }
  });
  app.get('/users/:user', (req, res) => {
    res.json({ profile: req.params.user, online: relay.userPresence(req.params.user).sessions > 0 });
  });
  app.use(relay.router);

  // 4. One server for both: /ws and /sockjs on the host's port.
  const server = http.createServer(app);
  relay.attach(server);
  await relay.start();
  await new Promise<void>((resolve) => server.listen(options.port, resolve));

  return {
    server,
    relay,
    close: async () => {
      await relay.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
