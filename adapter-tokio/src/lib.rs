//! Drives a `rusty-socket-proto` connection over Tokio `AsyncRead + AsyncWrite` transports.
