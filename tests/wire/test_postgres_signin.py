"""The PostgreSQL client's sign-in against a real server, each way it
speaks: SCRAM-SHA-256 (PostgreSQL's default), MD5 and a cleartext password
(the ``md5`` and ``password`` methods of ``pg_hba.conf``; the last only
over TLS), and a wrong password refused in one clear line each way."""

from __future__ import annotations

import dataclasses
import unittest

from filestoraged.errors import BackendUnavailable
from filestoraged.wire.postgres import Connection

from ..postgres_server import CLEARTEXT_USER, MD5_USER, USER, postgres


class SignInTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.server = postgres()
        admin = Connection(cls.server.address())
        try:
            for user, encryption in ((MD5_USER, "md5"), (CLEARTEXT_USER, "scram-sha-256")):
                admin.run("DROP ROLE IF EXISTS %s" % user)
                admin.run("SET password_encryption = '%s'" % encryption)  # md5 stored: the server asks for MD5
                admin.run("CREATE ROLE %s LOGIN PASSWORD 'the %s password'" % (user, user))
            stored = admin.query("SELECT rolname, left(rolpassword, 3) FROM pg_authid WHERE rolname = $1",
                                 [MD5_USER]).rows
        finally:
            admin.close()
        if stored != [(MD5_USER, "md5")]:
            raise AssertionError("the role for MD5 is stored as %r" % stored)

    def signed_in(self, user: str, password: str, tls: str = "disable") -> str:
        connection = Connection(dataclasses.replace(self.server.address(), user=user, password=password, tls=tls))
        try:
            return connection.query("SELECT current_user").rows[0][0]
        finally:
            connection.close()

    def test_each_way_signs_in_with_the_right_password_and_is_refused_with_a_wrong_one(self):
        for user, password, tls in ((USER, self.server.address().password, "disable"),
                                    (MD5_USER, "the %s password" % MD5_USER, "disable"),
                                    (CLEARTEXT_USER, "the %s password" % CLEARTEXT_USER, "require")):
            with self.subTest(user=user):
                self.assertEqual(self.signed_in(user, password, tls), user)
                with self.assertRaises(BackendUnavailable) as refused:
                    self.signed_in(user, "not " + password, tls)
                self.assertIn("refused the sign-in of %s" % user, str(refused.exception))
                self.assertNotIn("not " + password, str(refused.exception))

    def test_a_password_asked_for_in_the_clear_without_tls_is_not_sent(self):
        with self.assertRaises(BackendUnavailable) as refused:
            self.signed_in(CLEARTEXT_USER, "the %s password" % CLEARTEXT_USER)
        self.assertEqual(str(refused.exception),
                         "the records' database asks %s for the password in the clear, over a connection without "
                         "TLS: use tls=require (or verify-full), or scram-sha-256 in its pg_hba.conf" % CLEARTEXT_USER)


if __name__ == "__main__":
    unittest.main()
