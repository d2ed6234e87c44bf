"""Starting points for a new template: the skeleton a blank "New template" opens with, and a small gallery.

Each is plain data the create form is prefilled with; nothing is stored until the user saves. Every starter
carries the `{{ unsubscribe_url }}` link (the pre-send check warns without it) and gives each variable a default,
so a contact without a first name reads "Hi there", not "Hi ".
"""

from __future__ import annotations

from dataclasses import dataclass

from templates_app.models import MessageTemplate

MJML = MessageTemplate.TemplatingType.MJML
TEXT = MessageTemplate.TemplatingType.TEXT


@dataclass(frozen=True)
class Starter:
    key: str
    title: str
    description: str
    subject: str
    message: str
    templating_type: str = MJML
    channel: str = MessageTemplate.Channel.EMAIL


_FOOTER = """    <mj-section padding="16px 0">
      <mj-column>
        <mj-text align="center" font-size="12px" color="#6c757d">
          You receive this email because you subscribed.
          <a href="{{ unsubscribe_url }}" style="color: #6c757d">Unsubscribe</a> ·
          <a href="{{ view_in_browser_url }}" style="color: #6c757d">View in your browser</a>
        </mj-text>
      </mj-column>
    </mj-section>"""

_HEAD = """  <mj-head>
    <mj-attributes>
      <mj-all font-family="Helvetica, Arial, sans-serif" />
      <mj-text font-size="16px" line-height="24px" color="#212529" />
      <mj-button background-color="#0d6efd" color="#ffffff" border-radius="6px" font-weight="bold" />
    </mj-attributes>
  </mj-head>"""

SKELETON = Starter(
    key="skeleton",
    title="Blank skeleton",
    description="A heading, a paragraph, a button and the unsubscribe footer: the least an email needs.",
    subject='Hello {{ first_name|default:"there" }}',
    message=f"""<mjml>
{_HEAD}
  <mj-body background-color="#f4f4f4">
    <mj-section background-color="#ffffff" padding="24px">
      <mj-column>
        <mj-text font-size="22px" font-weight="bold">Your heading</mj-text>
        <mj-text>Hi {{{{ first_name|default:"there" }}}},</mj-text>
        <mj-text>Write your message here.</mj-text>
        <mj-button href="https://example.com">Call to action</mj-button>
      </mj-column>
    </mj-section>
{_FOOTER}
  </mj-body>
</mjml>
""",
)

NEWSLETTER = Starter(
    key="newsletter",
    title="Newsletter",
    description="A masthead, a lead story and two shorter items.",
    subject="This month at Herald: the news you asked for",
    message=f"""<mjml>
{_HEAD}
  <mj-body background-color="#f4f4f4">
    <mj-section background-color="#212529" padding="16px 24px">
      <mj-column>
        <mj-text color="#ffffff" font-size="20px" font-weight="bold">The Monthly Letter</mj-text>
      </mj-column>
    </mj-section>
    <mj-section background-color="#ffffff" padding="24px">
      <mj-column>
        <mj-text>Hi {{{{ first_name|default:"there" }}}}, here is what happened this month.</mj-text>
        <mj-text font-size="20px" font-weight="bold">The lead story</mj-text>
        <mj-text>Two or three sentences that make the reader want the rest.</mj-text>
        <mj-button href="https://example.com/story">Read the story</mj-button>
      </mj-column>
    </mj-section>
    <mj-section background-color="#ffffff" padding="0 24px 24px">
      <mj-column>
        <mj-text font-weight="bold">Second item</mj-text>
        <mj-text>A short summary. <a href="https://example.com/second">Read more</a></mj-text>
      </mj-column>
      <mj-column>
        <mj-text font-weight="bold">Third item</mj-text>
        <mj-text>A short summary. <a href="https://example.com/third">Read more</a></mj-text>
      </mj-column>
    </mj-section>
{_FOOTER}
  </mj-body>
</mjml>
""",
)

ANNOUNCEMENT = Starter(
    key="announcement",
    title="Announcement",
    description="One big message and one button: a launch, an event, a change.",
    subject='Something new for you, {{ first_name|default:"friend" }}',
    message=f"""<mjml>
{_HEAD}
  <mj-body background-color="#f4f4f4">
    <mj-section background-color="#0d6efd" padding="40px 24px">
      <mj-column>
        <mj-text align="center" color="#ffffff" font-size="28px" line-height="34px" font-weight="bold">
          Introducing something new
        </mj-text>
        <mj-text align="center" color="#ffffff">One sentence on why it matters to the reader.</mj-text>
        <mj-button href="https://example.com/launch" background-color="#ffffff" color="#0d6efd">Find out more</mj-button>
      </mj-column>
    </mj-section>
    <mj-section background-color="#ffffff" padding="24px">
      <mj-column>
        <mj-text>Hi {{{{ first_name|default:"there" }}}}, a few more details: what, when, and what to do next.</mj-text>
      </mj-column>
    </mj-section>
{_FOOTER}
  </mj-body>
</mjml>
""",
)

WELCOME = Starter(
    key="welcome",
    title="Welcome",
    description="A warm first email for new subscribers, with three next steps.",
    subject='Welcome, {{ first_name|default:"and thank you" }}!',
    message=f"""<mjml>
{_HEAD}
  <mj-body background-color="#f4f4f4">
    <mj-section background-color="#ffffff" padding="32px 24px">
      <mj-column>
        <mj-text font-size="24px" font-weight="bold">Welcome aboard, {{{{ first_name|default:"friend" }}}}!</mj-text>
        <mj-text>Thank you for joining us. Here is how to get started:</mj-text>
        <mj-text>
          1. Complete your profile.<br />
          2. Explore what is new.<br />
          3. Reply to this email if you have a question: a person reads it.
        </mj-text>
        <mj-button href="https://example.com/start">Get started</mj-button>
      </mj-column>
    </mj-section>
{_FOOTER}
  </mj-body>
</mjml>
""",
)

PLAIN = Starter(
    key="plain",
    title="Plain text",
    description="A personal-looking text email, no design: often the best read.",
    subject="A quick note",
    templating_type=TEXT,
    message="""Hi {{ first_name|default:"there" }},

Write your note here, as you would to one person.

Best regards,
The team

--
Unsubscribe: {{ unsubscribe_url }}
""",
)

GALLERY: tuple[Starter, ...] = (SKELETON, NEWSLETTER, ANNOUNCEMENT, WELCOME, PLAIN)
BY_KEY: dict[str, Starter] = {starter.key: starter for starter in GALLERY}


def starter_get(key: str) -> Starter:
    """The starter named `key`; the skeleton for an empty or unknown key."""
    return BY_KEY.get(key, SKELETON)
