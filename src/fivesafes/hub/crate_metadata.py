"""The ``ro-crate-metadata.json`` of a task's Five Safes RO-Crate: RO-Crate 1.1 JSON-LD with the
entities of the Five Safes RO-Crate profile 0.4 (https://w3id.org/5s-crate/0.4).

    ./                          Dataset   conformsTo the profile; sourceOrganization: the project;
                                          mainEntity: the analysis; mentions: every action below
    #task-<id>                  CreateAction  the request: agent the researcher, instrument the
                                          analysis, object the signed task and its parameters,
                                          result the combination
    #signoff-<node>             AssessAction  shp:SignOff, each node's custodian decision as the
                                          node reported it to the hub
    #run-<run id>               CreateAction  each node's run, result its output file
    #disclosure-<node>, -hub    AssessAction  shp:DisclosureCheck, each gate's verdict
    #person-, #organisation-,   Person, Organization, Project, SoftwareApplication
    #node-, #project-, ...

Where the profile asks for a Workflow RO-Crate as ``mainEntity``, this crate names the
catalogue analysis (pre-approved code of the platform, with its version) instead: fivesafes
tasks run no submitted workflow.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fivesafes.hub.crate import CrateFile

METADATA = "ro-crate-metadata.json"
CONTEXT = ["https://w3id.org/ro/crate/1.1/context", "https://w3id.org/ro/terms/workflow-run"]
RO_CRATE = "https://w3id.org/ro/crate/1.1"
PROFILE = "https://w3id.org/5s-crate/0.4"
SHP = "https://w3id.org/shp#"
STATUS = "http://schema.org/"
FILE_NAMES = {
    "request/task.json": "The task as the hub signed it (payload and Ed25519 signature)",
    "outputs/combined.json": "The hub's combination of the released values, gated again",
    "signature.json": "The hub's Ed25519 signature over the SHA-256 of every other file",
}


@dataclass(frozen=True)
class TaskRecord:
    hub: str
    task: dict[str, Any]
    signed_task: dict[str, Any]
    project: dict[str, Any]
    requester: dict[str, Any]
    decisions: list[dict[str, Any]]  # each node's latest reported decision on the project
    runs: list[dict[str, Any]]
    combined: dict[str, Any]


def ref(identifier: str) -> dict[str, str]:
    return {"@id": identifier}


def status(name: str) -> str:
    return f"{STATUS}{name}ActionStatus"


def crate_metadata(
    record: TaskRecord, files: Sequence[CrateFile], now: datetime, version: str
) -> dict[str, Any]:
    task, project = record.task, record.project
    project_id = f"#project-{project['id']}"
    analysis_id = f"#analysis-{task['analysis']}"
    person_id = f"#person-{record.requester['username']}"
    graph: list[dict[str, Any]] = []
    actions: list[str] = []
    results: dict[str, list[dict[str, str]]] = {}

    graph.append(
        {"@id": METADATA, "@type": "CreativeWork", "about": ref("./"), "conformsTo": ref(RO_CRATE)}
    )
    graph.append({"@id": PROFILE, "@type": "Profile", "name": "Five Safes RO-Crate profile"})
    graph += _agents(record, project_id, person_id, version)
    graph.append(
        {
            "@id": analysis_id,
            "@type": "SoftwareApplication",
            "name": f"fivesafes {task['analysis']} analysis",
            "description": "A catalogue analysis of the fivesafes platform: pre-approved code "
            "that returns only aggregates through each node's disclosure gate.",
            "softwareVersion": version,
            "isPartOf": ref("#fivesafes"),
        }
    )
    graph.append(
        {
            "@id": "#parameters",
            "@type": "PropertyValue",
            "name": "parameters",
            "value": json.dumps(task["parameters"], sort_keys=True, separators=(",", ":")),
        }
    )
    for decision in record.decisions:
        actions.append(f"#signoff-{decision['node']}")
        graph.append(_signoff(decision, project_id, task["project_version"]))
    for run in record.runs:
        output_file = f"outputs/{run['node']}.json"
        results.setdefault(run["node"], []).append(ref(output_file))
        actions.append(f"#run-{run['run_id']}")
        graph.append(_run(run, analysis_id, output_file))
        check = _node_disclosure(run, output_file)
        if check is not None:
            actions.append(check["@id"])
            graph.append(check)
    hub_check = _hub_disclosure(record.combined)
    if hub_check is not None:
        actions.append(hub_check["@id"])
        graph.append(hub_check)
    graph.append(
        {
            "@id": f"#task-{task['id']}",
            "@type": "CreateAction",
            "name": f"Task {task['id']}: {task['analysis']} for project {project['id']}",
            "actionStatus": _task_status(task, record.runs),
            "agent": ref(person_id),
            "instrument": ref(analysis_id),
            "object": [ref("request/task.json"), ref("#parameters")],
            "result": [ref("outputs/combined.json")],
            "startTime": task["created_at"],
            **({"endTime": task["completed_at"]} if task["completed_at"] else {}),
        }
    )
    actions.insert(0, f"#task-{task['id']}")
    for file in files:
        graph.append(_file(file))
    graph.append(
        {
            "@id": "./",
            "@type": "Dataset",
            "name": f"Task {task['id']}: {task['analysis']} for {project['title']}",
            "description": f"The record of one fivesafes task at hub {record.hub}: the signed "
            "request, each node's approval and run, the released outputs and their combination.",
            "conformsTo": ref(PROFILE),
            "datePublished": now.isoformat(),
            "publisher": ref("#hub"),
            "license": ref("#conditions"),
            "mainEntity": ref(analysis_id),
            "sourceOrganization": ref(project_id),
            "hasPart": [ref(f.path) for f in files],
            "mentions": [ref(a) for a in actions],
        }
    )
    graph.append(
        {
            "@id": "#conditions",
            "@type": "CreativeWork",
            "name": "Released under the project's data access conditions at each node; "
            "not for onward release without the custodians' agreement.",
        }
    )
    return {"@context": CONTEXT, "@graph": graph}


def _agents(
    record: TaskRecord, project_id: str, person_id: str, version: str
) -> list[dict[str, Any]]:
    project, requester = record.project, record.requester
    graph: list[dict[str, Any]] = []
    organisations = {requester["organisation"]} | {r["node_organisation"] for r in record.runs}
    for name in sorted(o for o in organisations if o):
        graph.append({"@id": _organisation_id(name), "@type": "Organization", "name": name})
    person: dict[str, Any] = {
        "@id": person_id,
        "@type": "Person",
        "name": requester["name"],
        "identifier": requester["username"],
        "memberOf": [ref(project_id)],
    }
    if requester["organisation"]:
        person["affiliation"] = ref(_organisation_id(requester["organisation"]))
    graph.append(person)
    entry: dict[str, Any] = {
        "@id": project_id,
        "@type": "Project",
        "name": project["title"],
        "identifier": [ref(f"{project_id}-at-{record.hub}")],
        "version": str(project["version"]),
        "startDate": project["start_date"],
        "endDate": project["end_date"],
    }
    if project["lay_summary"]:
        entry["description"] = project["lay_summary"]
    if project["purpose"]:
        entry["disambiguatingDescription"] = project["purpose"]
    if requester["organisation"]:
        entry["member"] = [ref(_organisation_id(requester["organisation"]))]
    graph.append(entry)
    graph.append(
        {
            "@id": f"{project_id}-at-{record.hub}",
            "@type": "PropertyValue",
            "name": record.hub,
            "value": project["id"],
        }
    )
    graph.append({"@id": "#hub", "@type": "Organization", "name": f"{record.hub} (fivesafes hub)"})
    graph.append(
        {
            "@id": "#fivesafes",
            "@type": "SoftwareApplication",
            "name": "fivesafes",
            "softwareVersion": version,
            "provider": ref("#hub"),
        }
    )
    graph.append(
        {
            "@id": "#gate-hub",
            "@type": "SoftwareApplication",
            "name": f"The disclosure gate of {record.hub}",
            "provider": ref("#hub"),
        }
    )
    for run in record.runs:
        node: dict[str, Any] = {
            "@id": f"#node-{run['node']}",
            "@type": "Organization",
            "name": f"{run['node']} (fivesafes node)",
        }
        if run["node_organisation"]:
            node["parentOrganization"] = ref(_organisation_id(run["node_organisation"]))
        graph.append(node)
        graph.append(
            {
                "@id": f"#gate-{run['node']}",
                "@type": "SoftwareApplication",
                "name": f"The disclosure gate of node {run['node']}",
                "provider": ref(f"#node-{run['node']}"),
            }
        )
    return graph


def _organisation_id(name: str) -> str:
    return "#organisation-" + "-".join(name.lower().split())


def _signoff(decision: dict[str, Any], project_id: str, version: int) -> dict[str, Any]:
    said = decision["decision"]
    on_version = decision["version"]
    if said == "approved" and on_version == version:
        action_status = status("Completed")
    elif said in ("pending", None):
        action_status = status("Potential")
    else:
        action_status = status("Failed")
    name = f"Sign-off at {decision['node']}: {said}"
    if on_version is not None:
        name += f" (project version {on_version})"
    action: dict[str, Any] = {
        "@id": f"#signoff-{decision['node']}",
        "@type": "AssessAction",
        "additionalType": ref(f"{SHP}SignOff"),
        "name": name,
        "object": [ref("./"), ref(project_id)],
        "agent": ref(f"#node-{decision['node']}"),
        "actionStatus": action_status,
    }
    if decision["reported_at"]:
        action["endTime"] = decision["reported_at"]
    if decision.get("reason"):
        action["description"] = decision["reason"]
    return action


_RUN_STATUS = {
    "succeeded": "Completed",
    "refused": "Failed",
    "failed": "Failed",
    "queued": "Potential",
    "leased": "Active",
}


def _run(run: dict[str, Any], analysis_id: str, output_file: str) -> dict[str, Any]:
    action: dict[str, Any] = {
        "@id": f"#run-{run['run_id']}",
        "@type": "CreateAction",
        "name": f"Run at {run['node']}: {run['state']}"
        + (f" ({run['reason']})" if run["reason"] else ""),
        "agent": ref(f"#node-{run['node']}"),
        "instrument": ref(analysis_id),
        "object": [ref("request/task.json")],
        "result": [ref(output_file)],
        "actionStatus": status(_RUN_STATUS.get(run["state"], "Failed")),
    }
    if run["finished_at"]:
        action["endTime"] = run["finished_at"]
    if run["reason"]:
        action["error"] = f"{run['reason']}: {run['message'] or ''}".strip(": ")
    return action


def _node_disclosure(run: dict[str, Any], output_file: str) -> dict[str, Any] | None:
    output = run["output"] or {}
    gate = output.get("gate") if isinstance(output, dict) else None
    if run["reason"] == "held_for_review":
        name, action_status = "held for an output checker", status("Potential")
    elif run["reason"] == "differencing_risk":
        name, action_status = "refused (differencing risk)", status("Failed")
    elif isinstance(gate, dict):
        name = f"{gate.get('verdict')} (profile {gate.get('profile')})"
        action_status = status("Completed")
    else:
        return None
    return {
        "@id": f"#disclosure-{run['node']}",
        "@type": "AssessAction",
        "additionalType": ref(f"{SHP}DisclosureCheck"),
        "name": f"Disclosure check at {run['node']}: {name}",
        "object": ref(output_file),
        "agent": ref(f"#gate-{run['node']}"),
        "actionStatus": action_status,
        **({"endTime": run["finished_at"]} if run["finished_at"] else {}),
    }


def _hub_disclosure(combined: dict[str, Any]) -> dict[str, Any] | None:
    result = combined.get("combined")
    if not isinstance(result, dict):
        return None
    gate = result.get("gate") if isinstance(result.get("gate"), dict) else {}
    profile = gate.get("profile") if gate else None
    return {
        "@id": "#disclosure-hub",
        "@type": "AssessAction",
        "additionalType": ref(f"{SHP}DisclosureCheck"),
        "name": "Disclosure check of the combination at the hub"
        + (f" (profile {profile})" if profile else ""),
        "object": ref("outputs/combined.json"),
        "agent": ref("#gate-hub"),
        "actionStatus": status("Completed"),
        **({"endTime": combined["completed_at"]} if combined.get("completed_at") else {}),
    }


def _task_status(task: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    if task["state"] != "complete":
        return status("Active")
    if any(run["state"] == "succeeded" for run in runs):
        return status("Completed")
    return status("Failed")


def _file(file: CrateFile) -> dict[str, Any]:
    name = FILE_NAMES.get(file.path)
    if name is None and file.path.startswith("outputs/"):
        node = file.path.removeprefix("outputs/").removesuffix(".json")
        name = f"The run at {node}: its state and the output released to the researcher"
    return {
        "@id": file.path,
        "@type": "File",
        "name": name or file.path,
        "encodingFormat": "application/json",
        "contentSize": str(file.size),
        "sha256": file.sha256,
    }
