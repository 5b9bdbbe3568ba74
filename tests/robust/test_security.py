"""Who gets in, with DCMTK as the peer: the access policy per service and per
calling AE title, allowed and refused, and DICOM over TLS with storescu and
echoscu (+tls), a client with an untrusted certificate refused.
"""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import free_port
from tests.dicom_factory import make_dataset, write_instance
from tests.server.conftest import dcmtk, modalities_config, run, wait_for
from tests.server.helpers import dataset_bytes, stored_file
from tests.server.test_tls import openssl, pki  # noqa: F401  (pki is a fixture)

pytestmark = pytest.mark.interop

# Each service allowed to one AE title of its own.
CALLERS = {"echo": "ECHOER", "store": "STORER", "find": "FINDER", "move": "MOVER",
           "get": "GETTER"}
RESPONSE = {"echo": "Received Echo Response", "store": "Received Store Response",
            "find": "Received Final Find Response", "move": "Received Final Move Response",
            "get": "Received C-GET Response"}
STUDY = make_dataset().StudyInstanceUID


@pytest.fixture
def one_service_each(start_node, storescp_factory, tmp_path):
    """A node where each service has one caller, a DCMTK storescp as the only
    C-MOVE destination, and one instance archived."""
    destination = storescp_factory()
    config = modalities_config((destination.aet, destination.port),
                               **{service: [aet] for service, aet in CALLERS.items()})
    node = start_node(config)
    instance = write_instance(tmp_path / "instance.dcm", make_dataset())
    result = run(dcmtk("storescu"), "-aet", "STORER", "-aec", node.aet, "127.0.0.1",
                 node.port, instance)
    assert result.returncode == 0, result.stderr
    return node, destination, instance, tmp_path


def use(service: str, aet: str, node, destination, instance, workdir) -> str:
    """Run the DCMTK tool for ``service`` as ``aet``; its verbose log."""
    target = ["-aet", aet, "-aec", node.aet, "127.0.0.1", str(node.port)]
    keys = ["-S", "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={STUDY}"]
    if service == "echo":
        command = [dcmtk("echoscu"), "-v", *target]
    elif service == "store":
        command = [dcmtk("storescu"), "-v", *target, instance]
    elif service == "find":
        command = [dcmtk("findscu"), "-v", *keys, *target]
    elif service == "move":
        command = [dcmtk("movescu"), "-v", *keys, "-aem", destination.aet, *target]
    else:
        (workdir / "got").mkdir(exist_ok=True)
        command = [dcmtk("getscu"), "-v", *keys, "-od", workdir / "got", *target]
    return run(*command).stderr


@pytest.mark.parametrize("service", list(CALLERS))
def test_each_service_serves_its_callers_and_refuses_the_others(one_service_each, service):
    node, destination, instance, workdir = one_service_each
    allowed = use(service, CALLERS[service], node, destination, instance, workdir)
    assert f"{RESPONSE[service]} (Success)" in allowed, allowed
    others = [aet for other, aet in CALLERS.items() if other != service]
    for aet in others:
        refused = use(service, aet, node, destination, instance, workdir)
        assert f"{RESPONSE[service]} (Unknown Status: 0x124)" in refused, (aet, refused)
    log = node.log()
    assert log.count("0x0124 failure") == len(others)
    assert all(f"{aet} may not" in log for aet in others)
    if service == "move":
        assert len(destination.received()) == 1
    if service == "get":
        assert len(list((workdir / "got").iterdir())) == 1


def test_a_caller_allowed_nothing_is_rejected_whatever_it_asks(one_service_each):
    node, destination, instance, workdir = one_service_each
    for service in CALLERS:
        assert "Association Rejected" in use(service, "NOBODY", node, destination, instance,
                                             workdir)
    assert node.log().count("'NOBODY' may use no service here") == len(CALLERS)


def test_the_defaults_let_anyone_echo_and_store_and_only_modalities_query(start_node,
                                                                          tmp_path):
    node = start_node(modalities_config(("VIEWER", 11999)))
    instance = write_instance(tmp_path / "instance.dcm", make_dataset())
    stranger = {"destination": None, "instance": instance, "workdir": tmp_path}
    assert "Received Echo Response (Success)" in use("echo", "STRANGER", node, **stranger)
    assert "Received Store Response (Success)" in use("store", "STRANGER", node, **stranger)
    for service in ("find", "get"):
        assert "(Unknown Status: 0x124)" in use(service, "STRANGER", node, **stranger)
        assert "(Success)" in use(service, "VIEWER", node, **stranger)


# --- DICOM over TLS with DCMTK ---------------------------------------------------


@pytest.fixture(scope="module")
def rogue(tmp_path_factory):
    """Another CA, unknown to the node, and a client certificate it signed."""
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl")
    folder = tmp_path_factory.mktemp("rogue")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=rogue CA", "-keyout", folder / "ca.key", "-out", folder / "ca.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=rogue client",
            "-keyout", folder / "client.key", "-out", folder / "client.csr")
    openssl("x509", "-req", "-in", folder / "client.csr", "-CA", folder / "ca.pem",
            "-CAkey", folder / "ca.key", "-CAcreateserial", "-days", "2",
            "-out", folder / "client.pem")
    return folder


@pytest.fixture
def tls_node(start_node, pki):  # noqa: F811
    """Plain DICOM on the node's port, TLS requiring a client certificate on another."""
    port = free_port()
    node = start_node(f"""
[tls]
enabled = true
port = {port}
certificate = "{pki / 'node.pem'}"
key = "{pki / 'node.key'}"
ca = "{pki / 'ca.pem'}"
require_client_certificate = true
""")
    node.wait_for_log(f"listening on 127.0.0.1:{port} (TLS)")
    return node, port


def tls_tool(name: str, port: int, *options, files=()):
    return run(dcmtk(name), "-v", *options, "-aec", "TUIPACS", "127.0.0.1", port, *files)


def test_storescu_and_echoscu_over_tls(tls_node, pki, tmp_path):  # noqa: F811
    node, port = tls_node
    client = ("+tls", pki / "client.key", pki / "client.pem", "+cf", pki / "ca.pem")
    echo = tls_tool("echoscu", port, *client)
    assert "Received Echo Response (Success)" in echo.stderr, echo.stderr
    instance = write_instance(tmp_path / "instance.dcm", make_dataset())
    store = tls_tool("storescu", port, *client, files=[instance])
    assert store.returncode == 0, store.stderr
    assert dataset_bytes(stored_file(node.data, make_dataset().SOPInstanceUID)) == \
        dataset_bytes(instance)


def test_untrusted_or_missing_client_certificates_are_refused(tls_node, pki,  # noqa: F811
                                                              rogue):
    node, port = tls_node
    trust_node = ("+cf", pki / "ca.pem")
    attempts = {
        "a certificate from another CA": ("+tls", rogue / "client.key",
                                          rogue / "client.pem", *trust_node),
        "no certificate": ("+tla", *trust_node),
    }
    for why, options in attempts.items():
        result = tls_tool("echoscu", port, *options)
        assert result.returncode != 0, why
        assert "Received Echo Response" not in result.stderr, why
    # The node logs a refusal in the connection's thread, maybe after the client
    # has given up: wait for the line, do not race it.
    wait_for(lambda: node.log().count("TLS handshake failed") >= len(attempts),
             "both refused handshakes logged", timeout=30)
    assert node.log().count("TLS handshake failed") == len(attempts)
    # A client that does not trust the node's certificate gives up by itself.
    distrust = tls_tool("echoscu", port, "+tls", pki / "client.key", pki / "client.pem",
                        "+cf", rogue / "ca.pem")
    assert distrust.returncode != 0
    assert "Received Echo Response" not in distrust.stderr
    # Plain DICOM goes on, on its own port.
    assert tls_tool("echoscu", node.port).returncode == 0
