"""Task files as read: every value kept as written, every mistake at its file, line and step."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from remoteops.errors import ConfigurationError, TaskFileError
from remoteops.tasks import (
    Action,
    DialogueArgs,
    ExchangeArgs,
    GetArgs,
    LocalArgs,
    PutArgs,
    RunArgs,
    SyncArgs,
    TemplateArgs,
    load_task_file,
    parse_extra_vars,
    parse_task_file,
)

DEPLOY = """\
hosts: web:!web03
vars:
  app: shop
  port: 8080
serial: [1, 5, "50%"]
max_fail: 2
max_fail_percentage: 25
strategy: free
steps:
  - name: say where
    run: echo {{ inventory_hostname }} {% raw %}{{.Name}}{% endraw %}
    register: where
    timeout: 2.5
    env: {APP: "{{ app }}", PORT: 8080}
  - name: copy config
    put:
      src: files/{{ app }}.conf
      dest: /etc/{{ app }}.conf
      mode: 0644
      parents: true
    sudo: true
    sudo_user: root
    when: where.exit_code == 0
  - sync: {src: site/, dest: /srv/site, delete: true, exclude: "*.tmp", max_delete: 10}
    hosts: web01
    when: [true, "app == 'shop'"]
  - template: {src: app.conf.j2, dest: /etc/app.conf, mode: "0640"}
    changed_when: false
    failed_when: where.exit_code > 1
  - get: {src: /var/log/app.log, dest: logs}
    ignore_errors: "{{ lenient }}"
  - local: make build
    creates: build/done
    removes: build/lock
    unless: test -e /srv/site
    check_safe: true
"""


def write(tmp_path: Path, text: str, name: str = "deploy.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_whole_task_file_is_read_with_every_value_as_written(tmp_path: Path) -> None:
    task = load_task_file(write(tmp_path, DEPLOY))
    assert task.path == str(tmp_path / "deploy.yml")
    assert task.hosts == "web:!web03"
    assert dict(task.vars) == {"app": "shop", "port": 8080}
    assert task.serial == (1, 5, "50%")
    assert (task.max_fail, task.max_fail_percentage, task.strategy) == (2, 25, "free")
    run, put, sync, template, get, local = task.steps
    assert [step.action.value for step in task.steps] == [
        "run",
        "put",
        "sync",
        "template",
        "get",
        "local",
    ]
    assert set(Action) == {step.action for step in task.steps} | {Action.DIALOGUE}  # see DIALOGUE
    assert run.args == RunArgs("echo {{ inventory_hostname }} {% raw %}{{.Name}}{% endraw %}")
    assert (run.name, run.line, run.register, run.timeout) == ("say where", 10, "where", 2.5)
    assert dict(run.env) == {"APP": "{{ app }}", "PORT": "8080"}
    assert put.args == PutArgs("files/{{ app }}.conf", "/etc/{{ app }}.conf", 420, True, False)
    assert (put.line, put.sudo, put.sudo_user) == (15, True, "root")
    assert put.when == ("where.exit_code == 0",)
    assert sync.args == SyncArgs("site/", "/srv/site", True, False, ("*.tmp",), 10)
    assert (sync.name, sync.hosts, sync.when) == (
        "sync: site/ -> /srv/site",
        "web01",
        ("True", "app == 'shop'"),
    )
    assert template.args == TemplateArgs("app.conf.j2", "/etc/app.conf", "0640")
    assert (template.changed_when, template.failed_when) == (("False",), ("where.exit_code > 1",))
    assert get.args == GetArgs("/var/log/app.log", "logs")
    assert get.ignore_errors == "{{ lenient }}"
    assert local.args == LocalArgs("make build")
    assert (local.creates, local.removes, local.unless) == (
        "build/done",
        "build/lock",
        "test -e /srv/site",
    )
    assert local.check_safe is True
    assert (local.name, local.line) == ("local: make build", 32)


def test_defaults_are_one_batch_of_all_hosts_linear_and_no_brake() -> None:
    task = parse_task_file("steps:\n  - run: uptime\n", "t.yml")
    assert (task.hosts, dict(task.vars), task.serial, task.strategy) == (None, {}, (), "linear")
    assert (task.max_fail, task.max_fail_percentage) == (None, None)
    step = task.steps[0]
    assert (step.name, step.when, step.sudo, step.ignore_errors, step.timeout) == (
        "run: uptime",
        (),
        None,  # unsaid: the inventory's sudo decides; an explicit false turns it off
        False,
        None,
    )


def test_the_error_names_file_line_and_step_number_and_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        steps:
          - run: one
          - run: two
          - name: copy config
            put: {src: a, dest: b}
            timeout: 0
        """,
    )
    with pytest.raises(TaskFileError) as caught:
        load_task_file(path)
    assert str(caught.value) == (
        f"{path}:6 (step 3 'copy config'): timeout must be a positive number of seconds, not 0"
    )
    assert (caught.value.line, caught.value.step, caught.value.step_name) == (6, 3, "copy config")
    assert isinstance(caught.value, ConfigurationError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "t.yml: the task file is empty"),
        ("- hosts: all\n", "t.yml:1: a task file must be a mapping, not a list (an Ansible"),
        ("just text\n", "t.yml:1: a task file must be a mapping, not the value 'just text'"),
        ("hosts: all\n", "t.yml:1: no 'steps:'"),
        ("steps: []\n", "t.yml:1: steps is empty"),
        ("steps: run ls\n", "t.yml:1: steps must be a list of steps, not the value 'run ls'"),
        ("steps:\n  - ls\n", "t.yml:2 (step 1): a step must be a mapping"),
        ("steps:\n  - name: x\n", "t.yml:2 (step 1 'x'): no action: a step needs one of run,"),
        (
            "steps:\n  - name: both\n    run: ls\n    local: ls\n",
            "t.yml:4 (step 1 'both'): two actions (run and local): a step has exactly one",
        ),
        ("steps:\n  - run: [ls, -l]\n", "t.yml:2 (step 1): run takes a command as a string, not a"),
        ("steps:\n  - run: 42\n", "t.yml:2 (step 1): run takes a command as a string, not 42"),
        ("steps:\n  - local:\n", "t.yml:2 (step 1): local takes a command as a string, not"),
        ("steps:\n  - put: a b\n", "t.yml:2 (step 1): put takes a mapping (src, dest, mode,"),
        ("steps:\n  - get: {src: a}\n", "t.yml:2 (step 1): get needs dest"),
        ("steps:\n  - sync: {}\n", "t.yml:2 (step 1): sync needs src and dest"),
        (
            "steps:\n  - run: ls\n    run: ls -l\n",
            "t.yml:3 (step 1): 'run' is given twice in a step",
        ),
        (
            "steps:\n  - run: ls\n    timeout: -1\n",
            "t.yml:3 (step 1): timeout must be a positive number of seconds, not -1",
        ),
        (
            "steps:\n  - run: ls\n    timeout: soon\n",
            "t.yml:3 (step 1): timeout must be a positive number of seconds, not 'soon'",
        ),
        ("steps:\n  - run: ls\n    timeout: true\n", "t.yml:3 (step 1): timeout must be"),
        ("steps:\n  - run: ls\n    sudo: maybe\n", "t.yml:3 (step 1): sudo must be true, false"),
        ("steps:\n  - run: ls\n    check_safe: '{{ x }}'\n", "t.yml:3 (step 1): check_safe must"),
        (
            "steps:\n  - put: {src: a, dest: b}\n    check_safe: true\n",
            "t.yml:3 (step 1): check_safe is for run, local and dialogue steps; a put step never",
        ),
        ("steps:\n  - run: ls\n    register: my-result\n", "t.yml:3 (step 1): register must be"),
        ("steps:\n  - run: ls\n    env: [A=1]\n", "t.yml:3 (step 1): env must be a mapping"),
        ("steps:\n  - run: ls\n    env: {A: [1]}\n", "t.yml:3 (step 1): env: A must be a string"),
        ("steps:\n  - run: ls\n    when: 3\n", "t.yml:3 (step 1): when takes an expression"),
        (
            "steps:\n  - run: ls\n    when: x ==\n",
            "t.yml:3 (step 1): when: expression syntax error in 'x =='",
        ),
        (
            "steps:\n  - run: ls\n    failed_when: '{{ x }}'\n",
            "t.yml:3 (step 1): failed_when: '{{ x }}': an expression is written without {{ }}",
        ),
        ("steps:\n  - run: echo {{ x\n", "t.yml:2 (step 1): template syntax error"),
        (
            "steps:\n  - put: {src: a, dest: b, mode: rw}\n",
            't.yml:2 (step 1): mode must be an octal mode of 3 or 4 digits such as "0644"',
        ),
        (
            "steps:\n  - sync: {src: a, dest: b, max_delete: -1}\n",
            "t.yml:2 (step 1): max_delete must be a whole number, 0 or more, not -1",
        ),
        ("serial: 0\nsteps: [run: ls]\n", "t.yml:1: serial entries are positive numbers"),
        ("serial: '0%'\nsteps: [run: ls]\n", "t.yml:1: serial entries are positive numbers"),
        ("serial: '101%'\nsteps: [run: ls]\n", "not '101%'"),
        ("serial: [1, '5']\nsteps: [run: ls]\n", "t.yml:1: serial entries are positive"),
        ("serial: [1, 2.5]\nsteps: [run: ls]\n", "not 2.5"),
        ("serial: []\nsteps: [run: ls]\n", "t.yml:1: serial is an empty list"),
        ("strategy: fre\nsteps: [run: ls]\n", "t.yml:1: strategy is 'linear' or 'free', not 'fre'"),
        ("max_fail: 0\nsteps: [run: ls]\n", "t.yml:1: max_fail must be a number of hosts, at"),
        ("max_fail_percentage: 101\nsteps: [run: ls]\n", "must be a number from 0 to 100, not"),
        ("max_fail_percentage: -1\nsteps: [run: ls]\n", "must be a number from 0 to 100, not -1"),
        ("hosts: 3\nsteps: [run: ls]\n", "t.yml:1: hosts must be a host pattern"),
        ("vars: [a]\nsteps: [run: ls]\n", "t.yml:1: vars must be a mapping of names to values"),
        ("vars: {a b: 1}\nsteps: [run: ls]\n", "t.yml:1: vars: 'a b' is not a variable name"),
        ("steps:\n  - run: ls\n  - run: [\n", "t.yml:4: invalid YAML"),
        ("steps:\n  - {[a]: 1}\n", "t.yml:2 (step 1): expected a key name in a step, found a list"),
        ("? [a]\n: 1\nsteps: [run: ls]\n", "t.yml:1: expected a key name in the task file"),
    ],
)
def test_each_malformed_file_is_refused_at_its_line(text: str, expected: str) -> None:
    with pytest.raises(TaskFileError) as caught:
        parse_task_file(text, "t.yml")
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("steps:\n  - rnu: ls\n", "unknown key 'rnu' in a step; did you mean 'run'?"),
        ("steps:\n  - shell: ls\n", "unknown key 'shell' in a step; did you mean 'run'?"),
        ("steps:\n  - copy: {}\n", "unknown key 'copy' in a step; did you mean 'put'?"),
        ("steps:\n  - run: ls\n    become: true\n", "'become' in a step; did you mean 'sudo'?"),
        (
            "steps:\n  - run: ls\n    wehn: x\n",
            "unknown key 'wehn' in a step; did you mean 'when'?",
        ),
        ("tasks:\n  - run: ls\n", "unknown key 'tasks' in the task file; did you mean 'steps'?"),
        ("stesp: []\n", "unknown key 'stesp' in the task file; did you mean 'steps'"),
        ("steps:\n  - put: {src: a, dset: b}\n", "unknown key 'dset' in put; did you mean 'dest'?"),
        ("steps:\n  - get: {src: a, dest: b, mode: 1}\n", "'mode' in get; expected one of src,"),
        ("strategy: lineal\nsteps: [run: ls]\n", "did you mean 'linear'?"),
    ],
)
def test_unknown_keys_and_actions_get_a_did_you_mean(text: str, expected: str) -> None:
    with pytest.raises(TaskFileError, match=r"did you mean|expected one of") as caught:
        parse_task_file(text, "t.yml")
    assert expected in str(caught.value)


def test_an_unknown_key_is_reported_where_it_is_with_the_step(tmp_path: Path) -> None:
    path = write(tmp_path, "steps:\n  - name: restart\n    run: ls\n    notfy: x\n")
    with pytest.raises(TaskFileError, match=r"deploy\.yml:4 \(step 1 'restart'\): unknown key"):
        load_task_file(path)


def test_values_are_never_rendered_at_load_time() -> None:
    """A template that names an undefined variable loads: it is rendered per host, later."""
    task = parse_task_file(
        "steps:\n  - run: rm -rf /srv/{{ undefined_here }}\n    when: also_undefined\n"
    )
    assert task.steps[0].args == RunArgs("rm -rf /srv/{{ undefined_here }}")
    assert task.steps[0].when == ("also_undefined",)


def test_a_yaml_alias_bomb_is_refused_with_the_inventory_limits() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdefgh":
        previous = chr(ord(level) - 1)
        bomb += f"{level}: &{level} [*{previous}, *{previous}, *{previous}, *{previous}, "
        bomb += f"*{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}]\n"
    with pytest.raises(TaskFileError, match=r"t\.yml:\d+: YAML aliases expand this file"):
        parse_task_file("vars:\n  " + bomb.replace("\n", "\n  ") + "\nsteps: [run: ls]\n", "t.yml")


def test_an_unreadable_or_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TaskFileError, match=r"nope\.yml: cannot read"):
        load_task_file(tmp_path / "nope.yml")
    binary = tmp_path / "bin.yml"
    binary.write_bytes(b"\xff\xfe\x00steps")
    with pytest.raises(TaskFileError, match=r"bin\.yml: not UTF-8 text"):
        load_task_file(binary)


def test_merge_keys_work_in_steps() -> None:
    task = parse_task_file(
        "steps:\n  - &base {run: ls, sudo: true, timeout: 5}\n  - <<: *base\n    run: pwd\n"
    )
    assert [(s.args, s.sudo, s.timeout) for s in task.steps] == [
        (RunArgs("ls"), True, 5),
        (RunArgs("pwd"), True, 5),
    ]


DIALOGUE = """\
steps:
  - name: save the configuration
    dialogue:
      - {send: enable, expect: 'Password: ?$', timeout: 5}
      - send_secret: "{{ enable_password }}"
        expect: "#"
      - show version
      - {send: "", expect: '\\[OK\\]'}
      - expect: "{{ banner }}"
    check_safe: true
  - send: reload
    expect: 'Proceed with reload\\? \\[confirm\\]'
    timeout: 9
  - send_secret: "{{ pin }}"
"""


def test_a_dialogue_is_read_exchange_by_exchange_and_the_send_expect_pair_is_one() -> None:
    """A line alone is sent and the prompt awaited; a step's own send/expect is a dialogue
    of one exchange; a secret is never part of the step's default name."""
    first, second, third = parse_task_file(DIALOGUE, "t.yml").steps
    assert first.action is Action.DIALOGUE
    assert first.check_safe
    assert first.args == DialogueArgs(
        (
            ExchangeArgs("enable", "Password: ?$", 5, line=4),
            ExchangeArgs("{{ enable_password }}", "#", secret=True, line=5),
            ExchangeArgs("show version", line=7),
            ExchangeArgs("", r"\[OK\]", line=8),
            ExchangeArgs(None, "{{ banner }}", line=9),
        )
    )
    assert second.action is Action.DIALOGUE
    assert second.args == DialogueArgs(
        (ExchangeArgs("reload", r"Proceed with reload\? \[confirm\]", line=11),)
    )
    assert second.timeout == 9
    assert second.name == r"dialogue: reload"
    assert third.args == DialogueArgs((ExchangeArgs("{{ pin }}", secret=True, line=14),))
    assert third.name == "dialogue: ****"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "steps:\n  - name: both\n    run: ls\n    send: enable\n",
            "t.yml:4 (step 1 'both'): two actions (run and send): a step has exactly one",
        ),
        (
            "steps:\n  - dialogue: [enable]\n    expect: '#'\n",
            "t.yml:3 (step 1): two actions (dialogue and expect)",
        ),
        (
            "steps:\n  - dialogue:\n      - send: enable\n        expect: 'Pass(word'\n",
            "t.yml:4 (step 1): expect: 'Pass(word' is not a regular expression: missing ),",
        ),
        (
            "steps:\n  - send: enable\n    expect: '.*'\n",
            "t.yml:3 (step 1): expect: '.*' matches an empty text, so it would end the wait",
        ),
        ("steps:\n  - dialogue: enable\n", "t.yml:2 (step 1): dialogue takes a list of exchanges"),
        ("steps:\n  - dialogue: []\n", "t.yml:2 (step 1): dialogue takes a list of exchanges"),
        (
            "steps:\n  - dialogue:\n      - [enable]\n",
            "t.yml:3 (step 1): an exchange is a mapping (send, send_secret, expect, timeout) or",
        ),
        (
            "steps:\n  - dialogue:\n      - {timeout: 3}\n",
            "t.yml:3 (step 1): an exchange needs send, send_secret or expect",
        ),
        (
            "steps:\n  - dialogue:\n      - {send: a, send_secret: b}\n",
            "t.yml:3 (step 1): send and send_secret: an exchange sends one line",
        ),
        (
            "steps:\n  - dialogue:\n      - {send_secret: 1234}\n",
            't.yml:3 (step 1): send_secret must be a string (quote it: send_secret: "..."), '
            "not a number",
        ),
        (
            'steps:\n  - send: "a\\nb"\n',
            "t.yml:2 (step 1): send types one line: write one exchange per line",
        ),
        (
            "steps:\n  - dialogue:\n      - {send: a, timeout: 0}\n",
            "t.yml:3 (step 1): timeout must be a positive number of seconds, not 0",
        ),
        (
            "steps:\n  - dialogue:\n      - {send: a, secret: true}\n",
            "unknown key 'secret' in an exchange; did you mean 'send_secret'?",
        ),
        (
            "steps:\n  - dialogue:\n      - {send: a, prompt: x}\n",
            "unknown key 'prompt' in an exchange; did you mean 'expect'?",
        ),
    ],
)
def test_a_malformed_dialogue_is_refused_at_its_line(text: str, expected: str) -> None:
    with pytest.raises(TaskFileError) as caught:
        parse_task_file(text, "t.yml")
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("0644", 0o644),  # unquoted: YAML 1.1 reads the leading 0 as octal
        ("00644", 0o644),
        ("07777", 0o7777),
        ('"0644"', "0644"),
        ('"644"', "644"),
        ('"0o755"', "0o755"),
        ('"4755"', "4755"),
        ('"{{ file_mode }}"', "{{ file_mode }}"),
    ],
)
def test_a_mode_is_three_or_four_octal_digits_quoted_or_with_its_leading_zero(
    written: str, kept: int | str
) -> None:
    for action in ("put", "template"):
        task = parse_task_file(f"steps:\n  - {action}: {{src: a, dest: b, mode: {written}}}\n")
        args = task.steps[0].args
        assert isinstance(args, (PutArgs, TemplateArgs))
        assert args.mode == kept


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        # decimal 644 is mode 1204 (sticky, owner write only): never what was meant
        ("644", 'mode: 644 unquoted is the decimal number 644 (mode 1204); write mode: "0644"'),
        ("755", 'write mode: "0755" (quoted)'),
        ('"77777"', "not '77777'"),  # masked to 7777: setuid, setgid, world-writable
        ('"0o77777"', "not '0o77777'"),
        ('"12"', "not '12'"),
        ('"0x1ff"', "not '0x1ff'"),
        ('"-1"', "not '-1'"),
        ("0", "not 0"),
        ("0_644", "not 420"),
        ("99999", "not 99999"),
        ("-1", "not -1"),
        ("6.44", "not 6.44"),
        ("true", "not True"),
    ],
)
def test_a_mode_that_is_no_mode_is_refused_at_its_line(written: str, expected: str) -> None:
    for action in ("put", "template"):
        text = f"steps:\n  - name: conf\n    {action}:\n      src: a\n      dest: b\n"
        with pytest.raises(TaskFileError) as caught:
            parse_task_file(f"{text}      mode: {written}\n", "t.yml")
        assert str(caught.value).startswith("t.yml:6 (step 1 'conf'): mode"), caught.value
        assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("steps:\n  - run: ls\n    register: groups\n", "t.yml:3 (step 1): register: 'groups'"),
        (
            "steps:\n  - run: ls\n    register: inventory_hostname\n",
            "t.yml:3 (step 1): register: 'inventory_hostname' is set by remoteops",
        ),
        ("vars:\n  a: 1\n  groups: []\nsteps: [run: ls]\n", "t.yml:3: vars: 'groups' is set by"),
        (
            "vars:\n  <<: {inventory_hostname: x}\nsteps: [run: ls]\n",
            "'inventory_hostname' is set by remoteops",
        ),
    ],
)
def test_no_task_file_variable_may_hide_a_built_in(text: str, expected: str) -> None:
    with pytest.raises(TaskFileError) as caught:
        parse_task_file(text, "t.yml")
    assert expected in str(caught.value)


@pytest.mark.parametrize("given", ["groups=web", "{inventory_hostname: x}", "@{file}"])
def test_no_extra_variable_may_hide_a_built_in(tmp_path: Path, given: str) -> None:
    (tmp_path / "vars.yml").write_text("app: shop\ngroups: {web: [a]}\n")
    with pytest.raises(ConfigurationError, match="is set by remoteops for each host"):
        parse_extra_vars(["app=x", given.replace("{file}", str(tmp_path / "vars.yml"))])


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        ('"web[[["', "unbalanced bracket"),
        ('"web[1:"', "unbalanced bracket"),
        ('"web:!"', "has no name after its operator"),
        ('"~web(("', "is not a valid regex"),
        ('"web[1:10:0]"', "web[1:10:0]"),
    ],
)
def test_a_malformed_hosts_pattern_is_refused_at_its_line(hosts: str, expected: str) -> None:
    for text, where in (
        (f"hosts: {hosts}\nsteps: [run: ls]\n", "t.yml:1: hosts: "),
        (
            f"steps:\n  - name: s\n    run: ls\n    hosts: {hosts}\n",
            "t.yml:4 (step 1 's'): hosts: ",
        ),
    ):
        with pytest.raises(TaskFileError) as caught:
            parse_task_file(text, "t.yml")
        assert str(caught.value).startswith(where), caught.value
        assert expected in str(caught.value)


def test_a_hosts_pattern_naming_what_may_not_exist_is_the_inventorys_to_judge() -> None:
    task = parse_task_file(
        "hosts: nosuch:&db[0]:!web[01-03]\nsteps:\n  - run: ls\n    hosts: 'w*,~^db'\n"
    )
    assert (task.hosts, task.steps[0].hosts) == ("nosuch:&db[0]:!web[01-03]", "w*,~^db")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("vars:\n  app: a\n  app: b\nsteps: [run: ls]\n", "t.yml:3: 'app' is given twice in vars"),
        (
            "vars:\n  db: {host: a,\n       host: b}\nsteps: [run: ls]\n",
            "t.yml:3: 'host' is given twice in vars",
        ),
        (
            "steps:\n  - run: ls\n    env:\n      A: 1\n      A: 2\n",
            "t.yml:5 (step 1): 'A' is given twice in env",
        ),
    ],
)
def test_a_variable_written_twice_is_refused_at_its_second_line(text: str, expected: str) -> None:
    with pytest.raises(TaskFileError) as caught:
        parse_task_file(text, "t.yml")
    assert expected in str(caught.value)


def test_a_variable_written_over_a_merged_one_wins_as_yaml_says() -> None:
    task = parse_task_file("vars:\n  <<: {app: a, port: 1}\n  app: b\nsteps: [run: ls]\n")
    assert dict(task.vars) == {"app": "b", "port": 1}


def test_an_extra_variables_file_with_a_name_written_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "vars.yml"
    path.write_text("app: a\ndb:\n  host: x\n  host: y\n")
    with pytest.raises(ConfigurationError, match=rf"^{path}:4: 'host' is given twice$"):
        parse_extra_vars([f"@{path}"])
