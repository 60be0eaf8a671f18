# Builds the gateway's binaries on Debian 12 and runs one of them.
FROM debian:bookworm-slim AS build
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      build-essential cmake pkg-config librdkafka-dev libmicrohttpd-dev libcjson-dev \
      libcurl4-openssl-dev libcmocka-dev libssl-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release && cmake --build /build -j"$(nproc)" \
      --target eg-ingress eg-router eg-invoker event-gateway

FROM debian:bookworm-slim
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      librdkafka1 libmicrohttpd12 libcjson1 libcurl4 ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/bin/ /usr/local/bin/
EXPOSE 4000 4001
CMD ["event-gateway", "--help"]
