"""Templates and `when:` expressions per host: strict (an undefined name fails that host, named),
and the variables each host sees, by precedence."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from remoteops.errors import ConfigurationError, HostError, TemplateError
from remoteops.inventory import Host, Inventory, load_inventory
from remoteops.status import Status
from remoteops.tasks import host_variables, parse_extra_vars
from remoteops.tasks.templating import evaluate, render


def test_a_template_renders_with_the_hosts_variables() -> None:
    assert render("echo {{ app }} on {{ port + 1 }}", {"app": "shop", "port": 8079}) == (
        "echo shop on 8080"
    )


def test_an_undefined_variable_fails_the_host_naming_it_never_renders_empty() -> None:
    with pytest.raises(TemplateError) as caught:
        render("rm -rf /srv/{{ app_dir }}", {"app": "shop"})
    assert caught.value.variable == "app_dir"
    assert "undefined variable 'app_dir'" in str(caught.value)
    assert isinstance(caught.value, HostError)
    assert caught.value.status is Status.FAILED


def test_a_missing_attribute_of_a_registered_result_is_named() -> None:
    with pytest.raises(TemplateError, match="undefined attribute or key 'stdoutt'") as caught:
        render("{{ result.stdoutt }}", {"result": {"stdout": "x"}})
    assert caught.value.variable == "stdoutt"


def test_raw_blocks_keep_braces_for_commands_that_use_their_own() -> None:
    text = "docker inspect -f '{% raw %}{{.Name}}{% endraw %}' {{ container }}"
    assert render(text, {"container": "web"}) == "docker inspect -f '{{.Name}}' web"


def test_text_without_markup_is_returned_as_is() -> None:
    assert render("awk '{print $1}' %s {}", {}) == "awk '{print $1}' %s {}"


def test_a_template_keeps_its_trailing_newline() -> None:
    assert render("port={{ port }}\n", {"port": 80}) == "port=80\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ port", "template syntax error"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{{ x | nosuchfilter }}", "nosuchfilter"),
    ],
)
def test_other_template_failures_are_template_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        render(text, {"x": 1})


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("result.exit_code == 0", True),
        ("result.exit_code != 0", False),
        ("inventory_hostname in groups['web']", True),
        ("inventory_hostname in groups['db']", False),
        ("'ok' in result.stdout", True),
        ("result.stdout", True),
        ("missing is defined", False),
        ("missing is not defined", True),
        ("flag | bool", True),
        ("'no' | bool", False),
        ("True", True),
        ("False", False),
    ],
)
def test_when_expressions_are_bare_jinja2_as_in_ansible(expression: str, expected: bool) -> None:
    variables = {
        "result": {"exit_code": 0, "stdout": "all ok"},
        "inventory_hostname": "web01",
        "groups": {"web": ("web01", "web02"), "db": ("db01",)},
        "flag": "yes",
    }
    assert evaluate(expression, variables) is expected


def test_an_undefined_name_in_a_condition_fails_instead_of_being_false() -> None:
    with pytest.raises(TemplateError, match="undefined variable 'deploy'") as caught:
        evaluate("deploy", {})
    assert caught.value.variable == "deploy"
    with pytest.raises(TemplateError, match="'exit_cod'"):
        evaluate("result.exit_cod == 0", {"result": {"exit_code": 0}})


def test_a_condition_in_braces_or_that_does_not_parse_is_refused() -> None:
    with pytest.raises(TemplateError, match="without"):
        evaluate("{{ x == 1 }}", {"x": 1})
    with pytest.raises(TemplateError, match="expression syntax error"):
        evaluate("x ==", {"x": 1})


INVENTORY = """\
all:
  vars: {app: inventory, port: 22, region: all}
  children:
    web:
      vars: {port: 8080}
      hosts:
        web01: {app: host}
        web02:
    db:
      hosts:
        db01:
"""


@pytest.fixture
def inventory(tmp_path: Path) -> Inventory:
    path = tmp_path / "hosts.yml"
    path.write_text(INVENTORY)
    return load_inventory([str(path)])


def test_precedence_is_inventory_then_file_vars_then_extra_vars(inventory: Inventory) -> None:
    web01 = inventory.hosts["web01"]
    variables = host_variables(
        web01, inventory, {"app": "file", "region": "file"}, {"region": "extra"}
    )
    assert (variables["port"], variables["app"], variables["region"]) == (8080, "file", "extra")
    assert host_variables(web01, inventory)["app"] == "host"


def test_hosts_see_their_name_and_every_groups_members(inventory: Inventory) -> None:
    variables = host_variables(inventory.hosts["db01"], inventory, {}, {"inventory_hostname": "x"})
    assert variables["inventory_hostname"] == "db01"
    assert tuple(variables["groups"]["web"]) == ("web01", "web02")
    assert tuple(variables["groups"]["all"]) == ("web01", "web02", "db01")
    assert evaluate("inventory_hostname in groups['db']", variables) is True
    assert render("{{ groups['web'] | join(',') }}", variables) == "web01,web02"


def test_the_groups_map_is_shared_and_read_only(inventory: Inventory) -> None:
    one = host_variables(inventory.hosts["web01"], inventory)["groups"]
    two = host_variables(inventory.hosts["web02"], inventory)["groups"]
    assert one is two
    with pytest.raises(TypeError):
        one["web"] = ("intruder",)  # type: ignore[index]


def test_a_host_built_by_hand_works_too() -> None:
    host = Host("h1", {"a": 1}, ("g",))
    variables = host_variables(host, Inventory([host]), {"b": 2})
    assert (variables["a"], variables["b"], tuple(variables["groups"]["g"])) == (1, 2, ("h1",))


def test_extra_vars_from_pairs_files_and_inline_mappings_later_ones_winning(
    tmp_path: Path,
) -> None:
    varfile = tmp_path / "vars.yml"
    varfile.write_text(textwrap.dedent("version: 2\nlist: [a, b]\nname: from-file\n"))
    assert parse_extra_vars(
        ["name=cli", f"@{varfile}", "tag=v1=beta", '{"debug": true}', "empty="]
    ) == {
        "name": "from-file",
        "version": 2,
        "list": ["a", "b"],
        "tag": "v1=beta",
        "debug": True,
        "empty": "",
    }
    assert parse_extra_vars([f"@{varfile}", "name=cli"])["name"] == "cli"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- a\n- b\n", r"vars\.yml:1: extra variables must be a mapping"),
        ("a: [\n", r"vars\.yml:2: invalid YAML"),
        ("1: x\n", r"vars\.yml:1: variable names must be strings"),
    ],
)
def test_an_extra_vars_file_must_be_a_mapping_and_is_named(
    tmp_path: Path, content: str, message: str
) -> None:
    varfile = tmp_path / "vars.yml"
    varfile.write_text(content)
    with pytest.raises(ConfigurationError, match=message):
        parse_extra_vars([f"@{varfile}"])


def test_a_missing_extra_vars_file_or_a_bad_pair_is_a_configuration_error(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigurationError, match=r"nope\.yml: cannot read"):
        parse_extra_vars([f"@{tmp_path / 'nope.yml'}"])
    with pytest.raises(ConfigurationError, match="expected NAME=VALUE"):
        parse_extra_vars(["novalue"])
    with pytest.raises(ConfigurationError, match="expected NAME=VALUE"):
        parse_extra_vars(["bad-name=1"])


def test_the_quote_filter_makes_a_value_one_shell_word() -> None:
    """Values are rendered as written (like Ansible): quoting is asked for, as there."""
    from remoteops.tasks.templating import render

    rendered = render("rm -f {{ path | quote }}", {"path": "a b; rm -rf /"})
    assert rendered == "rm -f 'a b; rm -rf /'"
