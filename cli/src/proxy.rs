//! A TCP proxy that delays what passes through it: network delay, jitter and loss for a devnet
//! on one machine, where the kernel has no `tc netem`.
//!
//! A devnet started with link faults puts one proxy in front of each node's p2p port: the
//! layer's p2p address of node `i` is the proxy, which forwards to the port node `i` really
//! listens on. Every connection between two nodes goes through the proxy of the node that was
//! dialled, so each pair of nodes sees the round trip [`LinkFaults::rtt`] added.
//!
//! Each direction of a connection holds every chunk it reads for half the round trip (plus
//! jitter) before writing it on, in order: jitter delays, it never reorders. TCP does not lose
//! bytes, so loss is what TCP turns it into: a chunk "lost" with probability
//! [`LinkFaults::loss`] waits one retransmission timeout ([`RETRANSMISSION`]) more, and the
//! chunks behind it with it. Hand-written: the crates that do this (toxiproxy's clients,
//! turmoil) either need a server we do not ship or replace the socket layer under test.

use std::time::Duration;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::mpsc,
    time::Instant,
};

/// What a lost chunk costs: Linux's minimum retransmission timeout.
pub const RETRANSMISSION: Duration = Duration::from_millis(200);

/// Faults of every link between two nodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkFaults {
    /// Round trip added between every pair of nodes (half each way).
    pub rtt: Duration,
    /// Up to this much more, each way, drawn uniformly per chunk.
    pub jitter: Duration,
    /// Probability that a chunk is lost (and costs a retransmission timeout).
    pub loss: f64,
}

/// A small xorshift generator: each direction of each connection draws its own, seeded, so a
/// run's jitter and loss do not depend on thread timing.
#[derive(Debug, Clone, Copy)]
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Starts a proxy on 127.0.0.1:`listen` forwarding to 127.0.0.1:`target` with `faults`
/// (`seed` varies the random draws between proxies).
pub async fn spawn(
    listen: u16,
    target: u16,
    faults: LinkFaults,
    seed: u64,
) -> eyre::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(("127.0.0.1", listen))
        .await
        .map_err(|e| eyre::eyre!("link proxy: listening on 127.0.0.1:{listen}: {e}"))?;
    Ok(tokio::spawn(async move {
        let mut connection = 0u64;
        loop {
            let Ok((inbound, _)) = listener.accept().await else { continue };
            connection += 1;
            let seed =
                seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ connection.wrapping_mul(0xBF58_476D_1CE4_E5B9) | 1;
            tokio::spawn(async move {
                let Ok(outbound) = TcpStream::connect(("127.0.0.1", target)).await else { return };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let (in_read, in_write) = inbound.into_split();
                let (out_read, out_write) = outbound.into_split();
                tokio::join!(
                    pipe(in_read, out_write, faults, Rng(seed)),
                    pipe(out_read, in_write, faults, Rng(seed.rotate_left(17) | 1)),
                );
            });
        }
    }))
}

/// Copies one direction, holding each chunk until it is due.
async fn pipe(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin + Send + 'static,
    faults: LinkFaults,
    mut rng: Rng,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let one_way = faults.rtt / 2;
    let mut last_due = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut due = Instant::now() + one_way + faults.jitter.mul_f64(rng.next_f64());
        if faults.loss > 0.0 && rng.next_f64() < faults.loss {
            due += RETRANSMISSION;
        }
        // In order: a chunk never overtakes the one before it.
        due = due.max(last_due);
        last_due = due;
        if tx.send((due, buf[..n].to_vec())).is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        port
    }

    /// The round trip through the proxy is the configured one (plus loopback), and bytes
    /// arrive whole and in order.
    #[tokio::test]
    async fn adds_the_round_trip_and_keeps_order() {
        let target = echo_server().await;
        let listen = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
        let faults =
            LinkFaults { rtt: Duration::from_millis(100), jitter: Duration::from_millis(10), loss: 0.0 };
        let _proxy = spawn(listen, target, faults, 1).await.unwrap();
        let mut s = TcpStream::connect(("127.0.0.1", listen)).await.unwrap();
        s.set_nodelay(true).unwrap();
        for round in 0..5u8 {
            let start = std::time::Instant::now();
            let msg: Vec<u8> = (0..200).map(|i| i as u8 ^ round).collect();
            s.write_all(&msg).await.unwrap();
            let mut back = vec![0u8; msg.len()];
            s.read_exact(&mut back).await.unwrap();
            let rtt = start.elapsed();
            assert_eq!(back, msg);
            assert!(rtt >= Duration::from_millis(100), "round trip {rtt:?} shorter than configured");
            // Not a performance assertion: only that the proxy delivers at all.
            assert!(rtt < Duration::from_secs(10), "round trip {rtt:?}: the proxy stalls");
        }
    }
}
