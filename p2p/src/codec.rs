//! Wire format of point-to-point consensus messages: a 4-byte big-endian length, then the
//! borsh-encoded hotstuff_rs message; the answer is a single ack byte. Hand-written because
//! libp2p's stock codecs (cbor, json) would re-encode bytes we already have encoded.

use crate::MAX_CONSENSUS_MESSAGE;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::{StreamProtocol, request_response};
use std::io;

/// Length-prefixed byte messages with a size cap.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConsensusCodec;

impl request_response::Codec for ConsensusCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = ();

    async fn read_request<T>(&mut self, _: &Self::Protocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut len = [0u8; 4];
        io.read_exact(&mut len).await?;
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_CONSENSUS_MESSAGE {
            // An error here would be dropped silently by request-response (a failed read is
            // never reported upward), so hand the service an empty request: never a valid
            // message, it gets the peer blocked. The body is left unread.
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; len];
        io.read_exact(&mut buf).await?;
        Ok(buf)
    }

    async fn read_response<T>(&mut self, _: &Self::Protocol, io: &mut T) -> io::Result<()>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut ack = [0u8; 1];
        io.read_exact(&mut ack).await
    }

    async fn write_request<T>(&mut self, _: &Self::Protocol, io: &mut T, req: Vec<u8>) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&(req.len() as u32).to_be_bytes()).await?;
        io.write_all(&req).await?;
        io.close().await
    }

    async fn write_response<T>(&mut self, _: &Self::Protocol, io: &mut T, _: ()) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&[1]).await?;
        io.close().await
    }
}
