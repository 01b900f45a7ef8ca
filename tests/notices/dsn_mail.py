"""Bounce messages as Postfix writes them (bounce(8) templates, RFC 3464): a
``multipart/report; report-type=delivery-status`` with the human notification, the
``message/delivery-status`` report and the returned message's headers."""

from __future__ import annotations

from email.message import Message

BOUNDARY = "4F2A1C0123.1796202000/mx.isstar.example"


def postfix_dsn(
    returned: Message,
    *,
    to: str,
    recipient: str,
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in"
    " virtual mailbox table",
    dsn_id: str = "<20261202090000.4F2A1C0123@mx.isstar.example>",
) -> bytes:
    """The bytes Postfix's bounce daemon sends to the envelope sender ``to``."""
    diag = diagnostic.format(rcpt=recipient)
    cut = diag.rfind(" ", 0, 60)  # folded at a space, as Postfix does past 78 columns
    folded = f"{diag[:cut]}\n    {diag[cut + 1 :]}" if cut > 0 else diag
    if action == "delayed":
        subject, intro = (
            "Delayed Mail (still being retried)",
            (
                "This is the mail system at host mx.isstar.example.\n\n"
                "####################################################################\n"
                "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\n"
                "####################################################################\n\n"
                "Your message could not be delivered for more than 4 hour(s).\n"
                "It will be retried until it is 5 day(s) old.\n"
            ),
        )
        extra = "Will-Retry-Until: Mon,  7 Dec 2026 09:00:00 +0100 (CET)\n"
    else:
        subject, intro = (
            "Undelivered Mail Returned to Sender",
            (
                "This is the mail system at host mx.isstar.example.\n\n"
                "I'm sorry to have to inform you that your message could not\n"
                "be delivered to one or more recipients. It's attached below.\n\n"
                "                   The mail system\n"
            ),
        )
        extra = ""
    headers = returned.as_string().split("\n\n", 1)[0].replace("\r\n", "\n")
    text = f"""Date: Wed,  2 Dec 2026 10:00:00 +0100 (CET)
From: MAILER-DAEMON@mx.isstar.example (Mail Delivery System)
Subject: {subject}
To: {to}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="{BOUNDARY}"
Content-Transfer-Encoding: 8bit
Message-Id: {dsn_id}

This is a MIME-encapsulated message.

--{BOUNDARY}
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

{intro}
<{recipient}>: host mx.lyon.example[192.0.2.25] said: {diag.partition("; ")[2]}
    (in reply to RCPT TO command)

--{BOUNDARY}
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.isstar.example
X-Postfix-Queue-ID: 4F2A1C0123
X-Postfix-Sender: rfc822; {to}
Arrival-Date: Wed,  2 Dec 2026 09:00:00 +0100 (CET)

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; mx.lyon.example
Diagnostic-Code: {folded}
{extra}
--{BOUNDARY}
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers
Content-Transfer-Encoding: 8bit

{headers}

--{BOUNDARY}--
"""
    return text.replace("\n", "\r\n").encode()
