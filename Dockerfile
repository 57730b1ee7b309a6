# authz-sidecar — a small runtime image. Build: docker build -t authz-sidecar .
# Two stages: the first compiles TypeScript with dev dependencies, the second
# carries only production dependencies, the compiled code and the configs.
FROM node:20.19-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` (tsc) needs the sources, which are copied next.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY proto ./proto
RUN npm run build && npm prune --omit=dev

FROM node:20.19-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY proto ./proto
COPY config ./config
# The default config records decisions under /app/audit (hash-chained JSONL and
# the spool); mount a volume there to keep them. Everything else is read-only.
RUN mkdir -p /app/audit && chown node:node /app/audit
# Run as the image's unprivileged user; the sidecar needs no root.
USER node
VOLUME ["/app/audit"]
EXPOSE 9191 9192 9090 8080
HEALTHCHECK --interval=10s --timeout=2s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9090/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "bin/authz-sidecar.js"]
CMD ["serve", "--config", "config/sidecar.yaml"]
