//! argv to a [`Cli`], cheaply. Even with every subcommand's arguments deferred, parsing with the
//! whole tree copies the global options into each of its ~45 subcommands and drops them again
//! (~0.2 M instructions per invocation). The subcommand is nearly always plain to see (the first
//! word after the global options), so it is parsed first under a top level that has only that
//! one subcommand. Whatever that does not take cleanly (help, a version flag, a short option or
//! `--` before the subcommand, an unknown word, every clap error) is parsed again with the whole
//! tree, so help texts, errors and exit codes are the whole tree's own.

use clap::{CommandFactory, FromArgMatches, Parser};

use super::args::Cli;

pub fn parse(args: &[String]) -> Result<Cli, clap::Error> {
    if let Some(cli) = parse_one_subcommand(args) {
        return Ok(cli);
    }
    Cli::try_parse_from(args)
}

/// `None` when the tree with only the subcommand named in `args` does not parse them.
fn parse_one_subcommand(args: &[String]) -> Option<Cli> {
    let whole = Cli::command();
    let sub = whole
        .find_subcommand(subcommand_word(&whole, args)?)?
        .clone();
    // Its name shows only in help and errors, which this tree never gives.
    let one = clap::Command::new("berth")
        .args(whole.get_arguments().cloned())
        .subcommand(sub);
    let mut matches = one.try_get_matches_from(args).ok()?;
    Cli::from_arg_matches_mut(&mut matches).ok()
}

/// The first word after the top level's own long options (with their values); `None` when
/// anything else comes first.
fn subcommand_word<'a>(whole: &clap::Command, args: &'a [String]) -> Option<&'a str> {
    let mut rest = args.iter().skip(1);
    while let Some(word) = rest.next() {
        let Some(option) = word.strip_prefix("--") else {
            return (!word.starts_with('-')).then_some(word.as_str());
        };
        let (name, inline_value) = match option.split_once('=') {
            Some((name, _)) => (name, true),
            None => (option, false),
        };
        let arg = whole
            .get_arguments()
            .find(|a| a.get_long() == Some(name) && !name.is_empty())?;
        if arg.get_action().takes_values() && !inline_value {
            rest.next()?;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<String> {
        std::iter::once("berth")
            .chain(line.split_whitespace())
            .map(str::to_string)
            .collect()
    }

    /// Both ways give the same `Cli` for everything the one-subcommand tree takes, and only the
    /// whole tree is asked for the rest.
    #[test]
    fn one_subcommand_parses_as_the_whole_tree_does() {
        let taken = [
            "run --rm --network none busybox true",
            "--root /r --runroot=/rr run -it --name x -e A=1 -p 80:80 busybox sh -c ls",
            "--storage-driver vfs create --tls-verify=false busybox",
            "run busybox --root /not-a-global-here",
            "ps -a --root /late --format {{.ID}}",
            "network create --subnet 10.1.0.0/24 --ipv6 n",
            "network list -q",
            "container run --rm busybox",
            "image ls",
            "system df -v",
            "exec -it c sh -c true",
            "stop -t 3 a b",
            "rename a b",
            "pull -q busybox",
            "volume prune -f",
        ];
        for line in taken {
            let args = argv(line);
            let one = parse_one_subcommand(&args)
                .unwrap_or_else(|| panic!("{line}: not taken by the one-subcommand tree"));
            let whole = Cli::try_parse_from(&args).unwrap();
            assert_eq!(format!("{one:?}"), format!("{whole:?}"), "{line}");
        }
        let left_to_the_whole_tree = [
            "",
            "--help",
            "-V",
            "help run",
            "run --help",
            "network create --help",
            "--root",
            "--root /r",
            "-x run busybox",
            "--bogus run busybox",
            "-- run busybox",
            "no-such-command",
            "run --bogus busybox",
            "run",
            "network",
        ];
        for line in left_to_the_whole_tree {
            assert!(parse_one_subcommand(&argv(line)).is_none(), "{line}");
        }
    }

    #[test]
    fn the_subcommand_word_follows_the_global_options_and_their_values() {
        let whole = Cli::command();
        let word = |line: &str| subcommand_word(&whole, &argv(line)).map(str::to_string);
        assert_eq!(word("ps"), Some("ps".into()));
        assert_eq!(word("--root ps run"), Some("run".into()));
        assert_eq!(word("--root=ps run"), Some("run".into()));
        assert_eq!(
            word("--runroot /x --storage-driver vfs images"),
            Some("images".into())
        );
        assert_eq!(word("--root"), None);
        assert_eq!(word("--=x ps"), None);
        assert_eq!(word("-h ps"), None);
        assert_eq!(word("--version ps"), None);
    }
}
