#!/usr/bin/env python3
"""Stands in for the person at the browser during `rolegate login` (loopback flow) in
tests/it/cli_client.rs: the CLI runs it as $BROWSER with the authorization URL. With the session
cookie of an already signed-in user (env CLI_BROWSER_COOKIE) it opens the URL on the broker,
reads the confirmation form, presses Allow (or Cancel with CLI_BROWSER_DECISION=deny), and
follows the broker's redirect to the CLI's loopback listener, as a browser would. Real HTTP
against the real broker and the real CLI; the Chromium journeys are in tests/it/browser.rs.

Usage: cli_browser.py URL   (stdlib only; rewrites the broker's public origin to
CLI_BROWSER_BROKER when the broker sits behind a public URL the test cannot resolve)
"""
import html
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def main() -> int:
    url = sys.argv[1]
    cookie = os.environ["CLI_BROWSER_COOKIE"]
    decision = os.environ.get("CLI_BROWSER_DECISION", "allow")
    opener = urllib.request.build_opener(NoRedirect)
    page = opener.open(urllib.request.Request(url, headers={"Cookie": cookie})).read().decode()
    fields = {html.unescape(k): html.unescape(v)
              for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)}
    if "csrf" not in fields:
        print(f"cli_browser: no confirmation form at {url}:\n{page[:2000]}", file=sys.stderr)
        return 1
    fields["decision"] = decision
    target = urllib.parse.urljoin(url, "/oauth2/authorize")
    req = urllib.request.Request(target, data=urllib.parse.urlencode(fields).encode(),
                                 headers={"Cookie": cookie})
    try:
        opener.open(req)
        print("cli_browser: expected a redirect", file=sys.stderr)
        return 1
    except urllib.error.HTTPError as e:
        if e.code != 303:
            print(f"cli_browser: POST answered {e.code}: {e.read()[:500]!r}", file=sys.stderr)
            return 1
        location = e.headers["Location"]
    # The redirect to http://127.0.0.1:<port>/callback: the CLI's listener.
    body = urllib.request.urlopen(location).read().decode()
    print(f"cli_browser: callback answered: {body[:200]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
