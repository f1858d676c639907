"""The console's sign-in through an OpenID provider (``--oidc-issuer``),
against a real one nobody on the project wrote (npm's ``oidc-provider``,
``tests/oidc_server.py``): in Chromium, through the provider's own login
and consent pages, back to the console signed in as the user the ID token
names, in this store's groups it lists (a group the store does not have
is left out). And what the way back refuses: a state this browser did not
begin, a state used twice; an ID token for another client, with another
nonce, or expired."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qs, urlsplit

from filestoraged.errors import Unauthorized
from filestoraged.wire.oidc import Provider, claims_of

from ..oidc_server import OidcProvider
from ..pages.test_browser import browser
from ..pages.test_pages import wait_in
from ..support import ServerCase

CLIENT, SECRET = "filestoraged-console", "a client secret of the tests"


class OidcCase(ServerCase):
    def setUp(self) -> None:
        self.provider = OidcProvider(self)
        self.config_overrides = {"auth": "writes", "oidc_issuer": self.provider.issuer, "oidc_client_id": CLIENT,
                                 "oidc_client_secret": SECRET, "oidc_ca_file": self.provider.cert,
                                 "oidc_scopes": "openid profile groups"}
        super().setUp()
        self.base = "http://127.0.0.1:%d" % self.port
        self.provider.start(CLIENT, SECRET, self.base + "/console/sign-in/oidc/callback",
                            {"alice": ["staff", "not-here"]})
        users = self.app.users
        users.teams.create_group("staff")
        users.teams.attach_to_group("staff", "readonly")
        for bucket in ("photos",):
            self.app.buckets.create(bucket)


class OidcInChromiumTests(OidcCase):
    def test_signed_in_through_the_providers_own_pages(self):
        driver, _ = browser(trusting=True)
        self.addCleanup(driver.quit)

        def wait(condition, what):
            wait_in(driver, condition, what)

        driver.get(self.base + "/console/sign-in")
        driver.find_element("link text", "Sign in with 127.0.0.1").click()
        wait(lambda: driver.find_elements("css selector", "input[name=login]"), "the provider's login page")
        self.assertTrue(driver.current_url.startswith(self.provider.issuer + "/interaction/"), driver.current_url)
        driver.find_element("css selector", "input[name=login]").send_keys("alice")
        driver.find_element("css selector", "input[name=password]").send_keys("anything at all")
        driver.find_element("css selector", "button[type=submit]").click()
        wait(lambda: "Continue" in driver.page_source, "the provider's consent page")
        driver.find_element("css selector", "button[type=submit]").click()
        wait(lambda: driver.current_url == self.base + "/console", "back in the console, " + driver.current_url)
        wait(lambda: driver.find_element("css selector", "h1").text == "Buckets", "the console's buckets")
        signed = driver.find_element("css selector", "form[action='/console/sign-out']").text
        self.assertIn("Signed in as alice", signed)
        self.assertIn("photos", driver.find_element("css selector", "ul.entries").text)
        driver.get(self.base + "/console/access")
        page = driver.page_source
        self.assertIn("your groups: staff.", page)  # the provider's "not-here" is no group of this store
        self.assertIn("readonly", page)
        driver.get(self.base + "/console/tokens")  # an admin's page: readonly may not
        self.assertIn("filestoraged:Admin", driver.page_source)


class OidcWayBackTests(OidcCase):
    def begin(self):
        """A sign-in begun: (where the provider is asked, the state cookie)."""
        reply = self.request("GET", "/console/sign-in/oidc")
        self.assertEqual(reply.status, 303, reply.body)
        cookie = reply.headers["Set-Cookie"]
        self.assertIn("SameSite=Lax", cookie)
        return reply.headers["Location"], cookie.split(";")[0]

    def test_the_authorization_request_asks_for_pkce(self):
        location, _ = self.begin()
        asked = parse_qs(urlsplit(location).query)
        self.assertTrue(location.startswith(self.provider.issuer + "/auth?"))
        self.assertEqual((asked["response_type"], asked["client_id"], asked["code_challenge_method"]),
                         (["code"], [CLIENT], ["S256"]))
        self.assertEqual(asked["redirect_uri"], [self.base + "/console/sign-in/oidc/callback"])
        self.assertEqual(len(asked["code_challenge"][0]), 43)

    def test_a_state_this_browser_did_not_begin_is_refused(self):
        location, cookie = self.begin()
        state = parse_qs(urlsplit(location).query)["state"][0]
        for headers in ({}, {"Cookie": "fsd_oidc=another"}):
            reply = self.request("GET", "/console/sign-in/oidc/callback?code=c&state=" + state, None, headers)
            self.assertEqual(reply.status, 401)
            self.assertIn(b"That sign-in was not begun here, in this browser", reply.body)
        # (the refusals used it up: the right browser's way back is refused too, begin again)
        reply = self.request("GET", "/console/sign-in/oidc/callback?code=c&state=" + state, None,
                             {"Cookie": cookie})
        self.assertEqual(reply.status, 401)

    def test_an_unknown_code_is_refused_by_the_provider(self):
        location, cookie = self.begin()
        state = parse_qs(urlsplit(location).query)["state"][0]
        reply = self.request("GET", "/console/sign-in/oidc/callback?code=not-a-code&state=" + state, None,
                             {"Cookie": cookie})
        self.assertEqual(reply.status, 401)
        self.assertIn(b"The sign-in was refused: the OpenID provider refused the sign-in (400)", reply.body)
        self.assertNotIn("Set-Cookie", reply.headers)


class IdTokenCheckTests(ServerCase):
    """What an ID token must say (OIDC Core 3.1.3.7), as a table."""

    def test_the_checks(self):
        provider = Provider("https://id.example.org", CLIENT, SECRET)
        now = time.time()
        good = {"iss": "https://id.example.org", "aud": CLIENT, "exp": now + 60, "iat": now, "nonce": "n",
                "sub": "alice"}
        self.assertEqual(provider.checked(dict(good), "n", now), good)
        for change, why in (({"iss": "https://evil.example.org"}, "its issuer is another"),
                            ({"aud": "another-client"}, "it is for another client"),
                            ({"aud": [CLIENT, "another"]}, "it names another authorized party"),
                            ({"exp": now - 600}, "it expired"),
                            ({"iat": now + 600}, "it was issued in the future"),
                            ({"nonce": "m"}, "its nonce is not this sign-in's"),
                            ({"sub": ""}, "it names no subject")):
            with self.subTest(why=why):
                with self.assertRaises(Unauthorized) as raised:
                    provider.checked(dict(good, **change), "n", now)
                self.assertEqual(raised.exception.text, "the OpenID provider's ID token is refused: " + why)
        self.assertEqual(json.dumps(provider.checked(dict(good, aud=[CLIENT, "x"], azp=CLIENT), "n", now)["azp"]),
                         json.dumps(CLIENT))

    def test_an_id_token_whose_claims_are_no_json_object_is_refused(self):
        for payload in (b"[" * 5000 + b"]" * 5000, b"[" * 101 + b"]" * 101, b"not json", b"[]"):
            with self.subTest(payload=payload[:20]):
                token = "e30.%s.c2ln" % base64.urlsafe_b64encode(payload).decode().rstrip("=")
                with self.assertRaises(Unauthorized) as raised:
                    claims_of(token)
                self.assertEqual(raised.exception.text, "the OpenID provider's ID token does not read")
