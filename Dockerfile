# stomp-relay: one image for every relay instance.
#   docker build -t stomp-relay .
#   docker run -p 8080:8080 -e BROKER_URL=stomp://guest:guest@rabbitmq:61613/ stomp-relay
# Configuration is by environment variable only (see `node dist/server/cli.js --help`).
# Base: the Active LTS line of Node (26 since 2026-10-28; Node 20 reached end of life on 2026-04-30),
# on Debian slim. Keep it inside package.json `engines` (test/unit/deploy/deploy-config.test.ts checks).

# --- build: compile the server and the browser client, then drop dev dependencies ---
FROM node:26-trixie-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY server ./server
COPY client ./client
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# --- runtime: compiled code, production dependencies and the demo page; no compilers ---
FROM node:26-trixie-slim
ENV NODE_ENV=production \
    PORT=8080
WORKDIR /app
COPY --from=build --chown=root:root /app/package.json ./
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --from=build --chown=root:root /app/client/demo ./client/demo
# Files stay root-owned and read-only to the process; it runs as the image's unprivileged `node` user.
USER node
EXPOSE 8080
# The slim image has no curl; Node's fetch does the probe. /healthz is liveness (the process serves
# HTTP); docker-compose gates nginx on it.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM from `docker stop` reaches node directly (exec form, no shell) and starts the drain.
STOPSIGNAL SIGTERM
CMD ["node", "dist/server/cli.js"]
