//! The listening socket, with the accept backlog the operator chose.
//!
//! Both runtimes bind through here: the standard library's and Tokio's
//! `bind` pick the backlog themselves (128 and 1024), while a burst of
//! thousands of clients connecting at once (a reconnect storm after a
//! restart) needs a longer queue, or the kernel drops their SYNs and they
//! retry a second later.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// Binds `addr` and listens with `backlog` pending connections at most (the
/// kernel caps it at `net.core.somaxconn`).
pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As `TcpListener::bind` does on Unix: a restarted server can bind again
    // while its old connections linger in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listens_on_the_address() {
        let listener = bind("127.0.0.1:0".parse().expect("an address"), 4096).expect("bound");
        let addr = listener.local_addr().expect("its address");
        assert!(std::net::TcpStream::connect(addr).is_ok());
        assert!(listener.accept().is_ok());
    }
}
