/**
 * The HTTP peer for bench/push-http.ts: the least an express app can do for `POST /push/:user`
 * (parse the JSON body, answer 202 with a small JSON object), and nothing else. Run as a child
 * process: `PORT=… tsx bench/peers/bare-express.ts`.
 */
import express from 'express';

const app = express();
app.post('/push/:user', express.json(), (req, res) => {
  res.status(202).json({ user: req.params.user, destination: (req.body as { destination?: string }).destination, sessions: 0 });
});
app.get('/readyz', (_req, res) => { res.json({ status: 'ready' }); });
app.listen(Number(process.env.PORT), '127.0.0.1');
