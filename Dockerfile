# syntax=docker/dockerfile:1
# Multi-stage image of the CRD service. Written to the node image's documented conventions; not built here
# (this workplace has no Docker engine).

# --- build: all dependencies, TypeScript compiled to dist/ ---------------------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- runtime: production dependencies only, non-root ---------------------------------------------------------
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    CDS_DATA_DIR=/app/data
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# The policies as data and the default configuration (production mounts its own CDS_TRUSTED_CLIENTS file:
# the committed one lists development clients only, which NODE_ENV=production refuses).
COPY hooks ./hooks
COPY config ./config
# The SQLite file lives here when no DATABASE_URL is given (mount a volume to keep it).
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "dist/server/main.js"]
