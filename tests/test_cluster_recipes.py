"""The cluster recipes under cluster/: valid for Ray's own checks, installing chromnas[host,ray],
and keeping Ray's ports off public networks.

Offline: the launcher YAML is checked against Ray's autoscaler schema (`ray-schema.json`, by
jsonschema) before and after Ray fills in its defaults (`prepare_config` + `validate_config`,
what `ray up` runs).  The KubeRay manifest is read by Ray's own KubeRay parser (the autoscaler's
`RayCluster` -> autoscaling-config translation) and the result checked against the same schema,
plus a structural check of the Kubernetes fields.  The RayCluster CRD's OpenAPI schema is not
shipped with Ray: set `RAYCLUSTER_CRD` to its file (KubeRay's
`ray-operator/config/crd/bases/ray.io_rayclusters.yaml`, or `kubectl get crd rayclusters.ray.io -o yaml`)
to validate the manifest against it as well.
"""

import copy
import json
import os
import re

import pytest

yaml = pytest.importorskip("yaml")
jsonschema = pytest.importorskip("jsonschema")
ray = pytest.importorskip("ray")

from ray.autoscaler._private import util as autoscaler_util  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "cluster")
RAY_PORTS = {6379, 8076, 8265, 10001}


def _load(name):
  with open(os.path.join(ROOT, name)) as f:
    return list(yaml.safe_load_all(f))


def _ray_schema():
  import ray.autoscaler

  with open(os.path.join(os.path.dirname(ray.autoscaler.__file__), "ray-schema.json")) as f:
    return json.load(f)


def _raycluster():
  docs = _load("raycluster.yaml")
  (cr,) = [d for d in docs if d["kind"] == "RayCluster"]
  return cr, docs


def test_launcher_yaml_passes_rays_schema_and_validation():
  (cfg,) = _load("aws.yaml")
  jsonschema.validate(cfg, _ray_schema())
  prepared = autoscaler_util.prepare_config(copy.deepcopy(cfg))
  autoscaler_util.validate_config(prepared)
  assert prepared["provider"]["type"] == "aws" and prepared["head_node_type"] in prepared["available_node_types"]
  # The checks do bite: a misspelt field or a wrong type is refused.
  for bad in ({**cfg, "max_worker": 3}, {**cfg, "max_workers": "many"}):
    with pytest.raises(jsonschema.ValidationError):
      autoscaler_util.validate_config(autoscaler_util.prepare_config(copy.deepcopy(bad)))


def test_launcher_yaml_installs_chromnas_and_keeps_ray_private():
  (cfg,) = _load("aws.yaml")
  setup = " ".join(cfg["setup_commands"])
  assert re.search(r'pip install -e "[^"]*chromnas\[host,ray\]"', setup)
  assert "/home/ubuntu/chromnas" in cfg["file_mounts"]
  head = " ".join(cfg["head_start_ray_commands"])
  assert "--dashboard-host=127.0.0.1" in head and "--port=6379" in head
  # Only SSH is opened to outside addresses; Ray's ports stay inside the security group.
  for perm in cfg["provider"]["security_group"]["IpPermissions"]:
    assert perm["FromPort"] == perm["ToPort"] == 22
    assert all(r["CidrIp"] != "0.0.0.0/0" for r in perm["IpRanges"])
  assert cfg["available_node_types"][cfg["head_node_type"]]["resources"] == {"CPU": 0}


def test_kuberay_manifest_passes_rays_own_parser_and_schema():
  from ray.autoscaler._private.kuberay import autoscaling_config

  cr, _ = _raycluster()
  cr = copy.deepcopy(cr)
  cr["metadata"]["namespace"] = "default"  # the operator hands Ray the CR as stored: with its namespace
  derived = autoscaling_config._derive_autoscaling_config_from_ray_cr(cr)  # pylint: disable=protected-access
  jsonschema.validate(derived, _ray_schema())
  autoscaler_util.validate_config(autoscaler_util.prepare_config(copy.deepcopy(derived)))
  types = derived["available_node_types"]
  (worker,) = [t for name, t in types.items() if name != derived["head_node_type"]]
  assert worker["resources"]["CPU"] == 16 and worker["max_workers"] == 32
  assert types[derived["head_node_type"]]["resources"]["CPU"] == 0


def test_kuberay_manifest_structure_installs_chromnas_and_keeps_ray_private():
  cr, docs = _raycluster()
  assert cr["apiVersion"] == "ray.io/v1" and cr["metadata"]["name"] == "chromnas"
  spec = cr["spec"]
  head = spec["headGroupSpec"]
  assert head["serviceType"] == "ClusterIP"  # no LoadBalancer or NodePort: Ray's ports stay in the cluster
  groups = [head] + spec["workerGroupSpecs"]
  for g in groups:
    assert all(isinstance(v, str) for v in g["rayStartParams"].values()), "rayStartParams values are strings"
    containers = g["template"]["spec"]["containers"]
    assert containers and all(c["name"] and c["image"] for c in containers)
    for c in containers:
      assert c["resources"]["requests"]["cpu"] == c["resources"]["limits"]["cpu"]
  for g in spec["workerGroupSpecs"]:
    assert g["groupName"] and g["minReplicas"] <= g["replicas"] <= g["maxReplicas"]
  images = {c["image"] for g in groups for c in g["template"]["spec"]["containers"]}
  assert len(images) == 1  # one image everywhere: cluster/Dockerfile's
  with open(os.path.join(ROOT, "Dockerfile")) as f:
    dockerfile = f.read()
  assert re.search(r'pip install [^\n]*chromnas\[host,ray\]"', dockerfile)
  assert f"rayproject/ray:{spec['rayVersion']}-" in dockerfile  # the image's Ray is the manifest's
  # The NetworkPolicy admits the Ray pods' traffic from this cluster's pods (and the operator to the dashboard).
  (policy,) = [d for d in docs if d["kind"] == "NetworkPolicy"]
  assert policy["apiVersion"] == "networking.k8s.io/v1" and policy["spec"]["policyTypes"] == ["Ingress"]
  assert policy["spec"]["podSelector"]["matchLabels"] == {"ray.io/cluster": cr["metadata"]["name"]}
  for rule in policy["spec"]["ingress"]:
    assert "ipBlock" not in str(rule)
    ports = {p["port"] for p in rule.get("ports", [])}
    assert ports <= RAY_PORTS


@pytest.mark.skipif(not os.environ.get("RAYCLUSTER_CRD"), reason="RAYCLUSTER_CRD (the RayCluster CRD file) not set")
def test_kuberay_manifest_against_the_raycluster_crd():
  with open(os.environ["RAYCLUSTER_CRD"]) as f:
    crd = yaml.safe_load(f)
  cr, _ = _raycluster()
  (version,) = [v for v in crd["spec"]["versions"] if v["name"] == cr["apiVersion"].split("/")[1]]
  schema = version["schema"]["openAPIV3Schema"]
  jsonschema.validate(cr, schema)
  bad = copy.deepcopy(cr)
  bad["spec"]["workerGroupSpecs"][0]["replicas"] = "four"
  with pytest.raises(jsonschema.ValidationError):
    jsonschema.validate(bad, schema)
