"""The deploy recipes stay true to the code, though no Docker engine or cluster runs them here.

Every ``HUB_*`` variable a compose file, manifest or the Dockerfile sets must be a setting the hub
reads (a misspelt one is silently ignored by pydantic-settings, and the hub would run on a default);
every command must be a ``hub`` command; every HTTP probe must name a route the API serves; the
cluster compose file must keep the replication that makes ``acks=all`` mean something.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.cli.main import app as cli
from hub.http.app import create_api
from hub.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RECIPES = sorted([*DEPLOY.glob("compose*.yaml"), *DEPLOY.glob("k8s/*.yaml")])
CLUSTER_COMPOSE = DEPLOY / "compose.cluster.yaml"


def documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def environment_names(path: Path) -> set[str]:
    """Variable names set anywhere in a recipe: compose ``environment`` maps, k8s ``env`` lists,
    ConfigMap and Secret data."""
    names: set[str] = set()
    for document in documents(path):
        for node in walk(document):
            if not isinstance(node, dict):
                continue
            for key in ("environment", "data", "stringData"):
                if isinstance(node.get(key), dict):
                    names.update(str(name) for name in node[key])
            if isinstance(node.get("env"), list):
                names.update(str(item["name"]) for item in node["env"] if "name" in item)
    return names


def settings_variables() -> set[str]:
    names = {"KAFKA_BOOTSTRAP_SERVERS"}
    names.update(f"HUB_{field.upper()}" for field in Settings.model_fields)
    return names


def hub_commands() -> set[str]:
    names = {
        command.name or getattr(command.callback, "__name__", "")
        for command in cli.registered_commands
    }
    names.update(group.name for group in cli.registered_groups if group.name)
    return names


def test_there_are_recipes_to_check() -> None:
    names = {path.relative_to(DEPLOY).as_posix() for path in RECIPES}
    assert {"compose.yaml", "compose.cluster.yaml", "k8s/worker.yaml", "k8s/api.yaml"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda path: path.relative_to(DEPLOY).as_posix())
def test_every_hub_variable_is_a_setting(path: Path) -> None:
    hub_names = {name for name in environment_names(path) if name.startswith("HUB_")}
    hub_names |= {"KAFKA_BOOTSTRAP_SERVERS"} & environment_names(path)
    assert hub_names - settings_variables() == set()


def test_the_dockerfile_sets_only_settings() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    names = set(re.findall(r"\b(HUB_[A-Z_]+)=", text))
    assert names, "the Dockerfile sets the container defaults"
    assert names - settings_variables() == set()


def _hub_invocations() -> Iterator[tuple[Path, list[str]]]:
    for path in RECIPES:
        if path.name == "compose.yaml":  # Kafka and PostgreSQL only, for development
            continue
        for document in documents(path):
            # A compose file's ``x-`` blocks are templates, not containers: read its services.
            for node in walk(document.get("services", document)):
                if not isinstance(node, dict):
                    continue
                if node.get("image") in ("think-family-hub", "think-family-hub:local"):
                    args = node.get("args", node.get("command"))
                    assert isinstance(args, list), f"{path.name}: a hub container names its command"
                    yield path, [str(arg) for arg in args]


def test_every_container_runs_a_hub_command() -> None:
    invocations = list(_hub_invocations())
    assert {args[0] for _, args in invocations} >= {"worker", "api", "mllp", "topics"}
    for path, args in invocations:
        assert args[0] in hub_commands(), f"{path.name}: `hub {args[0]}` is not a command"


def test_every_http_probe_names_a_route_the_api_serves(tmp_path: Path) -> None:
    routes = {
        getattr(route, "path", "")
        for route in create_api(Settings(state_dir=tmp_path, kafka_bootstrap_servers="x:1")).routes
    }
    probes = [
        node["httpGet"]["path"]
        for path in RECIPES
        for document in documents(path)
        for node in walk(document)
        if isinstance(node, dict) and isinstance(node.get("httpGet"), dict)
    ]
    compose_checks = [
        re.search(r"http://127\.0\.0\.1:8000(/[\w/]+)", " ".join(map(str, node["test"])))
        for node in walk(documents(CLUSTER_COMPOSE)[0])
        if isinstance(node, dict) and isinstance(node.get("test"), list)
    ]
    probes += [match.group(1) for match in compose_checks if match]
    assert {"/health", "/health/ready"} <= set(probes)
    assert set(probes) <= routes


def test_the_cluster_keeps_every_acknowledged_event_on_two_brokers() -> None:
    compose = documents(CLUSTER_COMPOSE)[0]
    brokers = {name: service for name, service in compose["services"].items() if "kafka" in name}
    assert len(brokers) == 3
    for service in brokers.values():
        environment = service["environment"]
        assert environment["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert len(environment["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == 3
        assert int(environment["KAFKA_MIN_INSYNC_REPLICAS"]) == 2
        assert environment["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"] == "false"
    node_ids = {service["environment"]["KAFKA_NODE_ID"] for service in brokers.values()}
    assert node_ids == {1, 2, 3}
    hub_environment = compose["services"]["worker"]["environment"]
    assert hub_environment["HUB_TOPIC_REPLICATION_FACTOR"] == "3"
    assert hub_environment["HUB_DATABASE_URL"].startswith("postgresql")


def test_workers_do_not_outnumber_partitions() -> None:
    """A worker beyond the partition count of a topic sits idle: a sizing mistake."""
    partitions = int(
        documents(DEPLOY / "k8s" / "configmap.yaml")[0]["data"]["HUB_TOPIC_PARTITIONS"]
    )
    worker = documents(DEPLOY / "k8s" / "worker.yaml")[0]
    assert worker["spec"]["replicas"] <= partitions
    compose = documents(CLUSTER_COMPOSE)[0]["services"]
    assert compose["worker"]["deploy"]["replicas"] <= int(
        compose["worker"]["environment"]["HUB_TOPIC_PARTITIONS"]
    )
