//! The command line in Portuguese: the same `clap` definition as `cli`, with its help texts,
//! headings and messages in the course's language, and clap's and the options' error messages
//! translated. Chosen by `--lang pt` or a `pt…` locale, before parsing (see `Lang::from_args`).

use std::ffi::OsString;
use std::io::Write;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, CommandFactory, FromArgMatches};
use ipc_cli::{EXIT_USAGE, Parsed, first_line};

use super::cli::Cli;
use super::lang::Lang;

const EXAMPLES_PT: &str = "\
Exemplos:
  ipc_desafio                          12 valores distintos de 1..=100, como pede o desafio
  ipc_desafio --pace 500..1500         a pausa aleatória entre envios do exercício original
  mkdir -p /tmp/run && ipc_desafio -n 20 --max 1000 --seed 7 --log-dir /tmp/run
  ipc_desafio --pace 50 --fault consumer-exit@3   veja o produtor receber EPIPE
  ipc_desafio --fault producer-exit@4 --bug parent-keeps-ends   o erro clássico do pipe
  ipc_desafio verify                   audita execution_log.txt e consumer_log.txt
  ipc_desafio report -o run.svg        desenha a execução (abra run.svg num navegador)

Códigos de saída: 0 ok, 1 a execução falhou ou não terminou (um filho falhou, um valor se
perdeu), 2 entrada inválida (ou outra execução escrevendo os logs de --log-dir), 130 interrompida
(SIGINT/SIGTERM; todo valor já enviado ainda é recebido).";

/// (argument id, Portuguese help) for every option of the main command.
const RUN_HELP: [(&str, &str); 10] = [
    (
        "count",
        "Quantos valores distintos o produtor envia (pelo menos 1; no máximo o tamanho do intervalo). Padrão: 12",
    ),
    (
        "min",
        "Menor valor que pode ser sorteado (não negativo). Padrão: 1",
    ),
    (
        "max",
        "Maior valor que pode ser sorteado, inclusive. Padrão: 100",
    ),
    (
        "seed",
        "Semente dos valores (e das pausas): a mesma semente repete a execução. Padrão: aleatória, e registrada na primeira linha do main, para que qualquer execução possa ser repetida",
    ),
    (
        "pace",
        "Pausa entre envios em milissegundos: um MS fixo, ou MIN..MAX sorteado a cada valor (ex.: --pace 500..1500 reproduz o exercício original). Padrão: sem pausa",
    ),
    (
        "log_dir",
        "Pasta de execution_log.txt e consumer_log.txt (precisa existir; os dois começam do zero). Padrão: a pasta atual",
    ),
    (
        "quiet",
        "Não repete as linhas do log de execução na saída padrão",
    ),
    (
        "fault",
        "Injeta uma falha após K valores: consumer-exit@K (o consumidor fecha o pipe e sai normalmente), producer-exit@K (o produtor sai sem o marcador de fim), consumer-kill@K ou producer-kill@K (o processo envia SIGKILL a si mesmo), main-kill@K (o main envia SIGKILL a si mesmo quando K valores foram recebidos)",
    ),
    (
        "bug",
        "Comete um erro clássico de propósito: parent-keeps-ends (EOF e EPIPE nunca acontecem), lock-before-fork (a trava não exclui ninguém) ou no-lock",
    ),
    (
        "lang",
        "Idioma dos logs e das mensagens: pt ou en (padrão: LC_ALL, LC_MESSAGES ou LANG)",
    ),
];

/// The placeholders of values, in Portuguese: (argument id, value name).
const VALUE_NAMES: [(&str, &str); 3] = [
    ("log_dir", "PASTA"),
    ("fault", "TIPO@K"),
    ("output", "ARQUIVO"),
];

fn translate_args(mut cmd: clap::Command, helps: &[(&'static str, &'static str)]) -> clap::Command {
    for (id, help) in helps {
        let value_name = VALUE_NAMES
            .iter()
            .find(|(v, _)| v == id)
            .map(|(_, name)| *name);
        cmd = cmd.mut_arg(*id, |a| {
            let takes_value = a.get_action().takes_values();
            let a = a
                .help(*help)
                .help_heading("Opções")
                .hide_default_value(takes_value);
            match value_name {
                Some(name) => a.value_name(name),
                None => a,
            }
        });
    }
    cmd.disable_help_flag(true)
        .disable_version_flag(true)
        .arg(help_arg())
        .help_template("{about-with-newline}\nUso: {usage}\n\n{all-args}{after-help}")
}

/// `-h`/`--help` in Portuguese. clap's own is turned off by `disable_help_flag`, a *global*
/// setting: every subcommand loses it too, so each must be given this one.
fn help_arg() -> Arg {
    Arg::new("help")
        .short('h')
        .long("help")
        .action(ArgAction::Help)
        .help("Mostra esta ajuda")
        .help_heading("Opções")
}

/// The main command, in Portuguese.
pub fn command() -> clap::Command {
    let cmd = Cli::command()
        .about("Um produtor e um consumidor, processos ligados por um pipe Unix, com um log compartilhado protegido por trava")
        .long_about(
            "Desafio 01 (comunicação entre processos): o main cria, com fork, um produtor e um \
             consumidor ligados por um pipe Unix. O produtor envia inteiros aleatórios distintos \
             e um marcador de fim; o consumidor classifica cada valor como par ou ímpar em \
             consumer_log.txt; os três processos escrevem em execution_log.txt sob uma trava \
             exclusiva de arquivo.",
        )
        .after_help(EXAMPLES_PT)
        .override_usage("ipc_desafio [OPÇÕES]\n       ipc_desafio <COMANDO>")
        .disable_help_subcommand(true)
        .subcommand_help_heading("Comandos")
        .subcommand(
            clap::Command::new("help")
                .about("Mostra esta ajuda, ou a de COMANDO")
                .override_usage("ipc_desafio help [COMANDO]")
                .help_template("{about-with-newline}\nUso: {usage}\n\n{all-args}")
                .arg(
                    Arg::new("command")
                        .value_name("COMANDO")
                        .help("O comando cuja ajuda mostrar: verify, report ou grade")
                        .help_heading("Argumentos"),
                )
                .disable_help_flag(true),
        )
        .mut_subcommand("verify", |sub| {
            translate_args(
                sub.about("Audita os dois logs de uma execução e avalia os cinco requisitos do desafio; sai com 0 só se estiver tudo certo")
                    .override_usage("ipc_desafio verify [OPÇÕES]"),
                &[
                    ("log_dir", "Pasta com execution_log.txt e consumer_log.txt. Padrão: a pasta atual"),
                    ("audit_only", "Só audita os logs; pula os requisitos do desafio (para execuções curtas ou com perdas de propósito, como as demonstrações de falhas)"),
                ],
            )
        })
        .mut_subcommand("report", |sub| {
            translate_args(
                sub.about("Desenha uma execução a partir dos dois logs: um SVG (ou, com -o ARQUIVO.html, uma página web)")
                    .override_usage("ipc_desafio report [OPÇÕES]"),
                &[
                    ("log_dir", "Pasta com execution_log.txt e consumer_log.txt. Padrão: a pasta atual"),
                    ("output", "Grava a figura aqui (ARQUIVO.html para uma página web); padrão: o SVG na saída padrão"),
                ],
            )
        })
        // Its options are described in English (the manual, docs/grade.md, is English too);
        // its help flag works as every other's.
        .mut_subcommand("grade", |sub| sub.disable_help_flag(true).arg(help_arg()));
    translate_args(cmd, &RUN_HELP).arg(
        Arg::new("version")
            .short('V')
            .long("version")
            .action(ArgAction::Version)
            .help("Mostra a versão")
            .help_heading("Opções"),
    )
}

/// Parses `args` with the command for `lang`: help and version on stdout (exit 0), anything
/// rejected as one `error: …` (`erro: …`) line on stderr (exit 2).
///
/// The run's options and a subcommand do not mix (`ipc_desafio -n 5 verify` is refused), but
/// `--lang` goes with either, before or after the subcommand's name.
pub fn parse(args: &[OsString], lang: Lang) -> Parsed<Cli> {
    if let Some(cli) = Cli::plain(args) {
        return Parsed::Run(cli);
    }
    // The command again for `help`, built only then: cloning it up front for every run cost
    // more than parsing the command line.
    let command_in = || match lang {
        Lang::En => Cli::command(),
        Lang::Pt => command(),
    };
    let cmd = command_in();
    let run_args: Vec<String> = cmd
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .filter(|id| id != "lang")
        .collect();
    let mut help_text: Option<String> = None;
    let result = cmd.try_get_matches_from(args).and_then(|m| {
        // `help [COMMAND]`, which the Portuguese command defines itself (clap's own would
        // speak English): the help of that command, or of the whole program.
        if let Some(("help", sub)) = m.subcommand() {
            let target = sub.get_one::<String>("command").cloned();
            let mut help_cmd = command_in();
            let help = match target {
                Some(name) => match help_cmd.find_subcommand_mut(&name) {
                    Some(sub) => sub.render_long_help(),
                    _ => {
                        return Err(clap::Error::raw(
                            clap::error::ErrorKind::InvalidSubcommand,
                            format!("unrecognized subcommand '{name}'"),
                        ));
                    }
                },
                None => help_cmd.render_long_help(),
            };
            help_text = Some(help.to_string());
            return Err(clap::Error::new(clap::error::ErrorKind::DisplayHelp));
        }
        if let Some((name, _)) = m.subcommand() {
            let mixed = run_args
                .iter()
                .find(|id| m.value_source(id) == Some(ValueSource::CommandLine));
            if let Some(id) = mixed {
                let flag = format!("--{}", id.replace('_', "-"));
                return Err(clap::Error::raw(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!("the subcommand '{name}' cannot be used with '{flag}'"),
                ));
            }
        }
        Cli::from_arg_matches(&m)
    });
    let error = |text: String| match lang {
        Lang::En => format!("error: {text}"),
        Lang::Pt => format!("erro: {}", translate(&text)),
    };
    match result {
        Ok(cli) => Parsed::Run(cli),
        Err(e) if !e.use_stderr() => {
            let text = help_text.unwrap_or_else(|| e.render().to_string());
            let _ = write!(std::io::stdout(), "{text}");
            Parsed::Exit(0)
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{}", error(first_line(&e.to_string())));
            Parsed::Exit(EXIT_USAGE)
        }
    }
}

/// clap's messages and the options' own, in Portuguese. Phrase by phrase, subjects with
/// their gender: what is not known stays as it is.
pub fn translate(message: &str) -> String {
    // (English subject, Portuguese subject, adjective ending: "a" feminine, "o" masculine,
    // "os" plural)
    const SUBJECTS: [(&str, &str, &str); 6] = [
        ("the count", "a quantidade", "a"),
        ("the seed", "a semente", "a"),
        ("the value", "o valor", "o"),
        ("milliseconds", "os milissegundos", "os"),
        ("K", "K", "o"),
        ("the delay", "a pausa", "a"),
    ];
    let mut out = message.to_string();
    for (en, pt, g) in SUBJECTS {
        let (can, must, is, big) = if g == "os" {
            ("não podem", "devem", "são", "grandes demais")
        } else {
            ("não pode", "deve", "é", "grande demais")
        };
        for (from, to) in [
            (
                format!("{en} must not be negative, got"),
                format!("{pt} {can} ser negativ{g}; recebido"),
            ),
            (
                format!("{en} must be a non-negative whole number, got an empty value"),
                format!("{pt} {must} ser um número inteiro não negativo; recebido um valor vazio"),
            ),
            (
                format!("{en} must be a non-negative whole number, got"),
                format!("{pt} {must} ser um número inteiro não negativo; recebido"),
            ),
            (
                format!("{en} is too large, got"),
                format!("{pt} {is} {big}; recebido"),
            ),
            (
                format!("{en} must be at least 1"),
                format!("{pt} {must} ser pelo menos 1"),
            ),
            (
                format!("{en} must be at most"),
                format!("{pt} {must} ser no máximo"),
            ),
        ] {
            out = out.replace(&from, &to);
        }
    }
    const PHRASES: [(&str, &str); 45] = [
        ("unexpected argument", "argumento inesperado"),
        ("' found", "'"),
        ("invalid value", "valor inválido"),
        ("a value is required for", "falta um valor para"),
        (" but none was supplied", ""),
        (
            "cannot be used multiple times",
            "não pode ser usado mais de uma vez",
        ),
        ("cannot be used with", "não pode ser usado com"),
        ("unrecognized subcommand", "subcomando desconhecido"),
        ("the argument", "o argumento"),
        ("the subcommand", "o subcomando"),
        ("' for '", "' para '"),
        ("is longer than the", "passa do limite de"),
        (" ms limit", " ms"),
        ("is empty (MIN > MAX)", "é vazio (MIN > MAX)"),
        ("range ", "intervalo "),
        ("expected KIND@K, e.g.", "esperado TIPO@K, ex.:"),
        ("(KIND is one of", "(TIPO é um de"),
        ("unknown fault kind", "tipo de falha desconhecido"),
        ("unknown bug", "erro clássico desconhecido"),
        ("unknown language", "idioma desconhecido"),
        ("(expected one of", "(esperado um de"),
        ("(expected pt or en)", "(esperado pt ou en)"),
        (
            "asks for more distinct values than",
            "pede mais valores distintos do que",
        ),
        (" holds (", " contém ("),
        ("is greater than", "é maior que"),
        ("No such file or directory", "arquivo ou pasta inexistente"),
        ("Permission denied", "permissão negada"),
        ("not a directory", "não é uma pasta"),
        ("No space left on device", "sem espaço no dispositivo"),
        ("Is a directory", "é uma pasta"),
        ("Not a directory", "não é uma pasta"),
        (
            "Read-only file system",
            "sistema de arquivos somente leitura",
        ),
        ("Too many open files", "arquivos abertos demais"),
        ("Operation not permitted", "operação não permitida"),
        ("Input/output error", "erro de entrada/saída"),
        ("Broken pipe", "pipe quebrado"),
        ("(os error ", "(erro do sistema "),
        ("not a regular file", "não é um arquivo comum"),
        ("(a FIFO)", "(é um FIFO)"),
        ("(a directory)", "(é uma pasta)"),
        ("(a device)", "(é um dispositivo)"),
        (
            ": a log must be one",
            ": um log precisa ser um arquivo comum",
        ),
        (
            "is the same file as execution_log.txt: the two logs must be two files",
            "é o mesmo arquivo que execution_log.txt: os dois logs precisam ser dois arquivos",
        ),
        (
            "is one of the run's logs: the report would replace it",
            "é um dos logs da execução: o relatório o substituiria",
        ),
        ("standard output", "a saída padrão"),
    ];
    for (en, pt) in PHRASES {
        out = out.replace(en, pt);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_portuguese_command_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn messages_keep_their_grammar_in_portuguese() {
        assert_eq!(
            translate(
                "invalid value '-3' for '--count <N>': the count must not be negative, got '-3'"
            ),
            "valor inválido '-3' para '--count <N>': a quantidade não pode ser negativa; recebido '-3'"
        );
        assert_eq!(
            translate("unexpected argument '--bogus' found"),
            "argumento inesperado '--bogus'"
        );
    }
}
