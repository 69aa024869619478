//! What a typed line means, and the fixed texts of the prompt.
//!
//! Kept free of I/O so that the rules (what is a command, what is a chat
//! message) are unit-tested on their own.

/// Printed once at start.
pub const BANNER: &str = "---<Command Line Chat Initialized!>---";

/// The answer to `help`.
pub const USAGE: &str = "\
Usage:
connect: Connect to the server
__disconnect: Disconnect from the server
exit: Exit the program
help: Prints usage guide";

/// The prompt while not connected: commands only.
pub const COMMAND_PROMPT: &str = "> ";

/// The prompt while connected: lines are chat messages.
pub const MESSAGE_PROMPT: &str = "msg> ";

/// One typed line, interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// `help`
    Help,
    /// `connect` or `connect URL`
    Connect(Option<&'a str>),
    /// `__disconnect`: the odd name keeps it from being typed as chat.
    Disconnect,
    /// `exit`
    Exit,
    /// A chat message, sent verbatim (only while connected).
    Send(&'a str),
    /// A blank line: nothing to do.
    Nothing,
    /// `connect` with more than one argument.
    BadConnect,
    /// Anything else while not connected.
    Unknown(&'a str),
}

/// Interprets `line` (without its line ending).
///
/// While connected, every line is a chat message except the three commands
/// that must keep working (`help`, `exit`, `__disconnect`), matched exactly
/// after trimming surrounding white space. `connect` is then a message like
/// any other word. Blank lines are never sent: an empty chat message is
/// noise for every other client.
pub fn parse(line: &str, connected: bool) -> Command<'_> {
    let trimmed = line.trim();
    match trimmed {
        "" => return Command::Nothing,
        "help" => return Command::Help,
        "exit" => return Command::Exit,
        "__disconnect" => return Command::Disconnect,
        _ => {}
    }
    if connected {
        return Command::Send(line);
    }
    let mut words = trimmed.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("connect"), url, None) => Command::Connect(url),
        (Some("connect"), _, Some(_)) => Command::BadConnect,
        _ => Command::Unknown(trimmed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_when_not_connected() {
        assert_eq!(parse("help", false), Command::Help);
        assert_eq!(parse("  exit ", false), Command::Exit);
        assert_eq!(parse("__disconnect", false), Command::Disconnect);
        assert_eq!(parse("connect", false), Command::Connect(None));
        assert_eq!(
            parse("connect  ws://127.0.0.1:9000/chat ", false),
            Command::Connect(Some("ws://127.0.0.1:9000/chat"))
        );
        assert_eq!(parse("connect a b", false), Command::BadConnect);
        assert_eq!(parse("", false), Command::Nothing);
        assert_eq!(parse("   ", false), Command::Nothing);
        assert_eq!(parse("hello", false), Command::Unknown("hello"));
        // Case matters, as in the usage text.
        assert_eq!(parse("HELP", false), Command::Unknown("HELP"));
        assert_eq!(parse("connected", false), Command::Unknown("connected"));
    }

    #[test]
    fn every_other_line_is_a_message_when_connected() {
        assert_eq!(
            parse("Hello from client 1", true),
            Command::Send("Hello from client 1")
        );
        // Sent verbatim, white space included.
        assert_eq!(parse("  indented ", true), Command::Send("  indented "));
        assert_eq!(parse("connect", true), Command::Send("connect"));
        assert_eq!(parse("help me", true), Command::Send("help me"));
        // These still work while connected.
        assert_eq!(parse("help", true), Command::Help);
        assert_eq!(parse("exit", true), Command::Exit);
        assert_eq!(parse("__disconnect", true), Command::Disconnect);
        assert_eq!(parse("", true), Command::Nothing);
    }

    #[test]
    fn usage_matches_the_transcript() {
        assert_eq!(
            USAGE.lines().collect::<Vec<_>>(),
            [
                "Usage:",
                "connect: Connect to the server",
                "__disconnect: Disconnect from the server",
                "exit: Exit the program",
                "help: Prints usage guide",
            ]
        );
    }
}
