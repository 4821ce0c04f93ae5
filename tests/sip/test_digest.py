"""Digest against the RFC 7616 §3.9.1 example (MD5 and SHA-256)."""

from __future__ import annotations

from deskphone.sip.digest import (
    authorization_value,
    choose_challenge,
    digest_response,
    parse_challenge,
)

RFC7616 = dict(  # noqa: C408 - keyword form mirrors the RFC's field names
    username="Mufasa",
    realm="http-auth@example.org",
    password="Circle of Life",
    method="GET",
    uri="/dir/index.html",
    nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    qop="auth",
    nc="00000001",
    cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
)


def test_rfc7616_md5_vector():
    assert (
        digest_response(algorithm="MD5", **RFC7616)
        == "8ca523f5e9506fed4657c9700eebdbec"
    )


def test_rfc7616_sha256_vector():
    assert digest_response(algorithm="SHA-256", **RFC7616) == (
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    )


def test_rfc2069_style_without_qop():
    # RFC 2617 §3.5 example without qop: HA1:nonce:HA2
    value = digest_response(
        algorithm="MD5",
        username="Mufasa",
        realm="testrealm@host.com",
        password="Circle Of Life",
        method="GET",
        uri="/dir/index.html",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
    )
    assert value == "670fd8c2df070c60b045671b8b24ff02"


def test_prefers_sha256_and_builds_header():
    offered = [
        'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, '  # noqa: ISC004
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
        'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, '  # noqa: ISC004
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
    ]
    challenge = choose_challenge(offered)
    assert (
        challenge is not None
        and challenge.algorithm == "SHA-256"
        and challenge.qop == ("auth", "auth-int")
    )
    header = authorization_value(
        challenge,
        username="Mufasa",
        password="Circle of Life",
        method="GET",
        uri="/dir/index.html",
        nc=1,
        cnonce=RFC7616["cnonce"],
    )
    assert (
        'response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"'
        in header
    )
    assert (
        "qop=auth, nc=00000001" in header
        and 'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"' in header
    )
    assert "Circle of Life" not in header


def test_unknown_schemes_and_broken_challenges_are_skipped():
    assert (
        choose_challenge(["NoOneKnowsThisScheme opaque-data=here", 'Digest realm="x"'])
        is None
    )
    assert parse_challenge('Digest realm="a\\"b", nonce=abc, stale=TRUE').stale is True
