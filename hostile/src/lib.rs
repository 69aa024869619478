//! Tests only: the hostile-peer suite of rusty_socket.
//!
//! The tests in `tests/` start the real servers (the `rusty-socket-tokio`
//! example `echo_server` and the `chat-server` binary) on `127.0.0.1` and
//! attack them over real sockets with hand-built bytes (slowloris, header
//! bombs, length lies, fragment and ping floods, protocol violations,
//! connection floods) while an honest client keeps chatting. They assert
//! that the honest client is served throughout, that each attack meets the
//! documented refusal, and that the server's memory stays bounded.
