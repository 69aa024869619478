//! Drives a `rusty-socket-proto` connection over blocking `Read + Write` transports.
