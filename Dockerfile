# Roster in a container. Build: docker build -t roster .   (see docker-compose.yml)
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin roster

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/roster --create-home roster
COPY --from=build /src/target/release/roster /usr/local/bin/roster
USER roster
WORKDIR /var/lib/roster
ENV ROSTER_LISTEN=0.0.0.0:8080 ROSTER_DATA_DIR=/var/lib/roster/data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["roster"]
CMD ["serve"]
