"""rules/routes.py: the order routes are tried in, by the proxy and by the load balancer alike."""

from rules.routes import route_precedence


def test_a_longer_prefix_is_tried_before_a_shorter_one_and_root_last():
    paths = ["/", "/a", "/api", "/api/v2/", "/b"]
    assert sorted(paths, key=route_precedence) == ["/api/v2/", "/api", "/a", "/b", "/"]


def test_a_trailing_slash_does_not_make_a_prefix_more_specific():
    assert sorted(["/api/", "/apis"], key=route_precedence) == ["/apis", "/api/"]
