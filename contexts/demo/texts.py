"""What the demo's chronology entries say: short summaries and details in the words DOMAIN.md prefers.

The young person is never blamed: adults groom, exploit, control and abuse; a young person goes
missing, is not yet able to trust services, is criminally or sexually exploited. Every template is
checked against the shipped language rules by the tests. A `{place}` slot names the place the entry
is recorded at (`places` lists the kinds it may be); entries marked `located` carry a point instead.
"""

from dataclasses import dataclass

from contexts.concerns.models import ConcernKind, Context

# Place types as stored in place.place_type (mapping.places.models.PlaceType; contexts never import mapping).
HOTEL, TAKEAWAY, TAXI_RANK, TAXI_FIRM = "hotel", "takeaway", "taxi_rank", "taxi_firm"
PARK, CAR_PARK, STATION, SHOPPING = "park", "car_park", "station", "shopping_centre"
SCHOOL, YOUTH, SHOP, SHISHA = "school", "youth_provision", "shop", "shisha_lounge"
RISK, HARM, PROTECTIVE = ConcernKind.RISK, ConcernKind.HARM, ConcernKind.PROTECTIVE
INDIVIDUAL, HOME, PEERS = Context.INDIVIDUAL, Context.HOME, Context.PEER_GROUP
SCHOOL_CONTEXT, NEIGHBOURHOOD = Context.SCHOOL, Context.NEIGHBOURHOOD
OUT_AND_ABOUT = (PARK, CAR_PARK, STATION, SHOPPING, TAKEAWAY, TAXI_RANK)


@dataclass(frozen=True, slots=True)
class Template:
    """One kind of entry: its category, kind, the contexts it fits and its words."""

    category: str
    kind: ConcernKind
    contexts: tuple[Context, ...]
    summary: str
    detail: str
    places: tuple[str, ...] = ()
    located: bool = False
    weight: int = 2
    intelligence: bool = False
    """Police may record it as graded (3x5x2) intelligence."""


T = Template
TEMPLATES: tuple[Template, ...] = (
    # Absent or missing
    T(
        "missing",
        HARM,
        (INDIVIDUAL, HOME),
        "Went missing overnight from their placement; found the next day",
        "Reported missing by carers at 22:30. Found by police the following afternoon at {place}, with two "
        "adults not known to the family. They may be being controlled or trafficked. A return home interview "
        "was offered within 72 hours.",
        places=OUT_AND_ABOUT,
        weight=4,
    ),
    T(
        "missing",
        HARM,
        (NEIGHBOURHOOD,),
        "Found at {place} after going missing for 30 hours",
        "Found by a patrol at {place} in the early hours. They were cold and hungry and had a new phone they "
        "could not explain. Brought home by police; a return home interview was offered.",
        places=(HOTEL, STATION, CAR_PARK, TAKEAWAY),
        weight=3,
        intelligence=True,
    ),
    T(
        "missing",
        RISK,
        (HOME,),
        "Came home after midnight three nights this week",
        "Carer reports late returns with no explanation of where they were. Carer was given advice on "
        "reporting and on recording car registrations and names mentioned.",
        weight=3,
    ),
    T(
        "missing",
        RISK,
        (SCHOOL_CONTEXT,),
        "Absent from school for four days without explanation",
        "Attendance officer could not reach the family. School understands the young person was seen in the "
        "town centre during school hours. Shared with the lead practitioner the same day.",
        weight=3,
    ),
    T(
        "missing",
        RISK,
        (SCHOOL_CONTEXT,),
        "Left {place} at lunchtime and did not return",
        "Staff saw them get into a car outside the school gates. Registration not recorded. School "
        "designated safeguarding lead informed and a referral made.",
        places=(SCHOOL,),
        weight=2,
    ),
    T(
        "missing",
        HARM,
        (NEIGHBOURHOOD,),
        "Found in another county after going missing for three days",
        "Located by another force in a flat with adults not known to the family, along with cash and drugs "
        "packaged for supply. There are strong indicators they are being criminally exploited through county "
        "lines. Referred to the National Referral Mechanism.",
        weight=2,
        intelligence=True,
    ),
    # Places of concern: hotels, taxis, fast food
    T(
        "hotels-taxis-food",
        RISK,
        (NEIGHBOURHOOD,),
        "Seen going into {place} with an adult male",
        "Hotel staff raised a concern: a young person matching their description went to a room booked by an "
        "adult male late at night. Hotel asked to keep a record of guest details under the hotel notice.",
        places=(HOTEL,),
        weight=4,
        intelligence=True,
    ),
    T(
        "hotels-taxis-food",
        HARM,
        (NEIGHBOURHOOD,),
        "Disclosed being sexually abused by adults at {place}",
        "During a return home interview they said they had been taken to a room at {place} by adults they "
        "met online and were sexually abused. Strategy discussion held the same day; police investigation "
        "opened.",
        places=(HOTEL,),
        weight=2,
    ),
    T(
        "hotels-taxis-food",
        RISK,
        (NEIGHBOURHOOD,),
        "Regularly given free food at {place}",
        "Youth workers report staff at {place} give them free food and let them stay after closing. This may "
        "be part of grooming. Passed to the neighbourhood team for a visit to the business.",
        places=(TAKEAWAY, SHISHA),
        weight=4,
        intelligence=True,
    ),
    T(
        "hotels-taxis-food",
        RISK,
        (NEIGHBOURHOOD,),
        "Dropped at {place} by a private-hire driver at 2am",
        "A driver from {place} was seen dropping them in the town centre at 2am. The licensing team was "
        "asked whether the firm has a record of the booking.",
        places=(TAXI_FIRM, TAXI_RANK),
        weight=3,
        intelligence=True,
    ),
    T(
        "hotels-taxis-food",
        RISK,
        (NEIGHBOURHOOD, PEERS),
        "Taxi journeys paid for by an unknown adult",
        "A parent found taxi receipts for journeys across the borough that the young person could not have "
        "paid for. They may have been groomed; the firm was asked who booked and paid.",
        weight=2,
    ),
    # Picked up in cars
    T(
        "picked-up-in-cars",
        RISK,
        (NEIGHBOURHOOD,),
        "Picked up in a car by an adult near {place}",
        "A resident reported an adult in a grey hatchback collecting them near {place} on several evenings. "
        "Partial registration passed to police.",
        places=OUT_AND_ABOUT,
        weight=4,
        intelligence=True,
    ),
    T(
        "picked-up-in-cars",
        RISK,
        (SCHOOL_CONTEXT,),
        "Collected from outside {place} by adults not known to school",
        "Staff saw different adults in cars waiting outside the school gates at home time. School has asked "
        "for a police presence at the end of the day.",
        places=(SCHOOL,),
        weight=3,
        intelligence=True,
    ),
    T(
        "picked-up-in-cars",
        HARM,
        (NEIGHBOURHOOD,),
        "Driven out of the borough by adults and left there",
        "They told a youth worker adults drove them to another town, kept them there overnight and made them "
        "hold a package. There are concerns they are being criminally exploited.",
        weight=2,
        intelligence=True,
    ),
    # Known hotspots
    T(
        "hotspot",
        RISK,
        (NEIGHBOURHOOD, PEERS),
        "Seen at {place} late in the evening with older young people",
        "Detached youth workers saw them at {place} at 23:00 with a group of older young people. Some of the "
        "group are known to be criminally exploited. Youth workers offered a lift home.",
        places=(PARK, CAR_PARK, SHOPPING, STATION),
        weight=5,
        intelligence=True,
    ),
    T(
        "hotspot",
        RISK,
        (NEIGHBOURHOOD,),
        "Stopped near the canal towpath late at night",
        "Police spoke with them at 01:00 near the canal towpath, an area where exploitation of children has "
        "been reported. Taken home; carer was not aware they had left the house.",
        located=True,
        weight=4,
        intelligence=True,
    ),
    T(
        "hotspot",
        RISK,
        (NEIGHBOURHOOD,),
        "Seen at an address of concern in the borough",
        "Neighbourhood officers saw them leaving a flat where adults are suspected of exploiting children. "
        "Shared with the lead practitioner and the neighbourhood team.",
        located=True,
        weight=3,
        intelligence=True,
    ),
    T(
        "hotspot",
        HARM,
        (NEIGHBOURHOOD,),
        "Assaulted at {place}",
        "Treated for a facial injury after an assault at {place}. They said they knew the adults involved "
        "but were frightened to say more. Safety plan reviewed the same day.",
        places=(PARK, CAR_PARK, STATION),
        weight=2,
    ),
    # Gangs and older associates
    T(
        "older-associates",
        RISK,
        (PEERS,),
        "Spending time with adults in their twenties",
        "Carer reports they spend evenings with adults aged around 20 to 25 and come home with new clothes. "
        "The adults may be grooming them.",
        weight=5,
        intelligence=True,
    ),
    T(
        "older-associates",
        RISK,
        (PEERS, NEIGHBOURHOOD),
        "Named in intelligence alongside an organised group",
        "Police intelligence suggests an organised group is exploiting young people in the area and that "
        "this young person may be among them. Not corroborated; reviewed in three months.",
        weight=3,
        intelligence=True,
    ),
    T(
        "older-associates",
        HARM,
        (PEERS,),
        "Criminally exploited: found holding drugs for an adult",
        "Stopped and searched; found holding drugs and a second phone. They said an adult told them to keep "
        "the package. They are being criminally exploited; treated as a victim, not a suspect.",
        weight=3,
        intelligence=True,
    ),
    T(
        "older-associates",
        HARM,
        (PEERS,),
        "Threatened over a debt by adults exploiting them",
        "They told their social worker adults say they owe money for a package that was taken from them, and "
        "have threatened their family. Being controlled through debt bondage.",
        weight=2,
    ),
    T(
        "older-associates",
        RISK,
        (SCHOOL_CONTEXT, PEERS),
        "Peer group at school changed suddenly",
        "Tutor noticed a move to a new group of friends, some of whom are known to be exploited by an "
        "organised group. Discussed at the school's safeguarding meeting.",
        weight=3,
    ),
    # Use of technology
    T(
        "technology",
        HARM,
        (INDIVIDUAL,),
        "An adult is using technology to abuse them",
        "A teacher saw messages from an adult asking for images. Phone handed to police with the family's "
        "agreement. Child sexual abuse images were found; investigation opened.",
        weight=3,
    ),
    T(
        "technology",
        RISK,
        (INDIVIDUAL, PEERS),
        "Contact with adults through a gaming platform",
        "Parent found messages from adults they have never met offering gifts and phone credit. The adults "
        "may be grooming them. Online safety advice given.",
        weight=4,
    ),
    T(
        "technology",
        RISK,
        (PEERS,),
        "Added to a group chat used to arrange meetings with adults",
        "A peer showed staff a group chat in which adults arrange to meet young people in the town centre. "
        "Passed to police.",
        weight=3,
        intelligence=True,
    ),
    T(
        "technology",
        HARM,
        (INDIVIDUAL,),
        "Indecent images of them shared by an adult",
        "Indecent images of them were sent to other young people by an adult, who threatens to share more. "
        "This is sexual abuse; police investigating and Report Remove explained to them.",
        weight=2,
    ),
    T(
        "technology",
        RISK,
        (INDIVIDUAL,),
        "Has a second phone they will not explain",
        "Carer found a second phone with many missed calls from withheld numbers. A second phone can be a "
        "sign that an adult is controlling them.",
        weight=3,
    ),
    # Unexplained gifts
    T(
        "unexplained-gifts",
        RISK,
        (INDIVIDUAL, HOME),
        "New trainers and cash they cannot explain",
        "Came home with designer trainers and about 200 pounds in cash. Could not say where they came from. "
        "Gifts like these may be part of grooming.",
        weight=4,
    ),
    T(
        "unexplained-gifts",
        RISK,
        (HOME,),
        "Carer found a new phone and vapes in their room",
        "Carer found a new phone and several vapes. The young person said a friend gave them. Logged and "
        "discussed with the lead practitioner.",
        weight=3,
    ),
    # Alcohol and drugs
    T(
        "alcohol-drugs",
        RISK,
        (INDIVIDUAL,),
        "Smelled of cannabis on return home",
        "Carer reports they smelled of cannabis and were drowsy after coming home late. Adults may be giving "
        "them drugs. Referred to the young people's substance use service.",
        weight=4,
    ),
    T(
        "alcohol-drugs",
        HARM,
        (INDIVIDUAL, NEIGHBOURHOOD),
        "Taken to hospital heavily intoxicated",
        "Found heavily intoxicated at {place} and taken to A&E. They could not say who gave them the "
        "alcohol. Hospital made a safeguarding referral.",
        places=(PARK, STATION, SHOPPING),
        weight=3,
    ),
    T(
        "alcohol-drugs",
        RISK,
        (PEERS,),
        "Given alcohol at parties held by adults",
        "Friends told school that adults hold parties in a flat where they give young people alcohol. "
        "Passed to police and the neighbourhood team.",
        weight=3,
        intelligence=True,
    ),
    # Sexual health
    T(
        "sexual-health",
        HARM,
        (INDIVIDUAL,),
        "Attended the sexual health clinic; concerns of sexual abuse",
        "Clinic staff are concerned the young person has been groomed or coerced by an adult. Safeguarding "
        "referral made by the clinic the same day.",
        weight=3,
    ),
    T(
        "sexual-health",
        RISK,
        (INDIVIDUAL,),
        "Requested emergency contraception twice this month",
        "School nurse is worried an adult may be exploiting their vulnerability. Discussed with the "
        "designated safeguarding lead.",
        weight=2,
    ),
    T(
        "sexual-health",
        HARM,
        (INDIVIDUAL,),
        "Pregnancy test at school nurse drop-in; adult suspected",
        "They told the school nurse an adult aged about 24 may be the father. This is child sexual abuse; "
        "strategy discussion held and police informed.",
        weight=1,
    ),
    # Family problems
    T(
        "family",
        RISK,
        (HOME,),
        "Arguments at home; carer feels unable to keep them safe",
        "Carer says they cannot stop the young person leaving at night and feels frightened of the adults "
        "who call at the house. Family support offered.",
        weight=4,
    ),
    T(
        "family",
        RISK,
        (HOME,),
        "Domestic abuse incident at the family home",
        "Police attended a domestic abuse incident. The young person was present. Shared through the "
        "domestic abuse notification process.",
        weight=3,
    ),
    T(
        "family",
        RISK,
        (HOME,),
        "Placement moved at short notice",
        "Moved to a new placement outside their home area after the last placement ended. Moves can leave "
        "young people isolated and more easily groomed.",
        weight=2,
    ),
    T(
        "family",
        HARM,
        (HOME,),
        "Adults came to the family home making threats",
        "Two adults came to the door demanding to see the young person and threatening the family over a "
        "debt. Police attended; family offered a safety plan.",
        weight=2,
        intelligence=True,
    ),
    # Emotional and physical condition
    T(
        "emotional-physical",
        RISK,
        (INDIVIDUAL,),
        "Low mood and not sleeping",
        "They told their mentor they are frightened and not sleeping. Referred to the children and young "
        "people's mental health service.",
        weight=4,
    ),
    T(
        "emotional-physical",
        HARM,
        (INDIVIDUAL,),
        "Self-harm disclosed to school nurse",
        "Disclosed self-harm after a weekend they did not want to talk about. First aid given; mental health "
        "referral made and carer informed.",
        weight=3,
    ),
    T(
        "emotional-physical",
        HARM,
        (INDIVIDUAL,),
        "Unexplained injuries seen by staff",
        "Staff saw bruising on their arms. They said they fell. Concern that adults exploiting them are "
        "hurting them; shared with the lead practitioner.",
        weight=2,
    ),
    T(
        "emotional-physical",
        RISK,
        (SCHOOL_CONTEXT,),
        "Falling asleep in lessons and losing weight",
        "Teachers are concerned about tiredness and weight loss over the last month. School has asked the "
        "school nurse to see them.",
        weight=3,
    ),
    # Distrust of authority
    T(
        "distrust",
        RISK,
        (INDIVIDUAL,),
        "Is not yet able to trust services",
        "Did not want to talk with the social worker during the home visit. Offered a meeting at the youth "
        "club with a worker they know, and a text number to use any time.",
        weight=3,
    ),
    T(
        "distrust",
        RISK,
        (INDIVIDUAL,),
        "Frightened of what will happen if they talk to police",
        "They told a youth worker they are frightened of what adults will do if they speak to police. "
        "Offered support from the young people's advocate.",
        weight=2,
    ),
    # Protective factors
    T(
        "trusted-adult",
        PROTECTIVE,
        (HOME,),
        "Grandmother is a trusted adult they talk to",
        "Their grandmother lives nearby and they visit most days. She knows the warning signs and has agreed "
        "to call the social worker if she is worried.",
        weight=3,
    ),
    T(
        "trusted-adult",
        PROTECTIVE,
        (SCHOOL_CONTEXT,),
        "Trusts their head of year and asks to see them",
        "They seek out their head of year when worried. School has made sure they can reach them at any "
        "time.",
        weight=3,
    ),
    T(
        "trusted-adult",
        PROTECTIVE,
        (INDIVIDUAL,),
        "Building trust with a specialist youth worker",
        "Has met the exploitation youth worker weekly for six weeks and talks more openly each time.",
        weight=4,
    ),
    T(
        "positive-activity",
        PROTECTIVE,
        (NEIGHBOURHOOD, PEERS),
        "Goes to {place} twice a week",
        "Attends {place} regularly and has friends there. Staff are trained to notice concerns and know the "
        "lead practitioner.",
        places=(YOUTH,),
        weight=4,
    ),
    T(
        "positive-activity",
        PROTECTIVE,
        (INDIVIDUAL,),
        "Joined a football team and trains on Saturdays",
        "Enjoys football and has been picked for the under-16 team. Coach knows who to contact if worried.",
        weight=3,
    ),
    T(
        "positive-activity",
        PROTECTIVE,
        (INDIVIDUAL, PEERS),
        "Started a music project with friends",
        "Recording music with two friends at the community studio. Talks about wanting to go to college.",
        weight=2,
    ),
    T(
        "education-engagement",
        PROTECTIVE,
        (SCHOOL_CONTEXT,),
        "Attendance at {place} back above 90 percent",
        "Attendance has improved since the new timetable and mentoring started. Teachers report they are "
        "settled in lessons.",
        places=(SCHOOL,),
        weight=4,
    ),
    T(
        "education-engagement",
        PROTECTIVE,
        (SCHOOL_CONTEXT,),
        "Accepted a college taster course",
        "Went to the college open day with their mentor and has a place on a taster course next term.",
        weight=2,
    ),
    T(
        "family-support",
        PROTECTIVE,
        (HOME,),
        "Carer attending parenting support group",
        "Carer attends the weekly group for parents of exploited children and feels more able to keep "
        "them safe.",
        weight=3,
    ),
    T(
        "family-support",
        PROTECTIVE,
        (HOME,),
        "Family agreed a safety plan together",
        "The family agreed a safety plan: check-in calls, a code word and who to call if they go missing.",
        weight=3,
    ),
)

INTELLIGENCE_PREFIX = "Police intelligence: "
"""Put before the detail of an entry recorded as graded intelligence."""


def template_texts() -> list[str]:
    """Every summary and detail as written, with the slots left in."""
    return [text for template in TEMPLATES for text in (template.summary, template.detail)]


def check_templates() -> None:
    """Raise unless every template is well formed (slots match places, fits COPY and the schema)."""
    for template in TEMPLATES:
        uses_place = "{place}" in template.summary + template.detail
        if uses_place != bool(template.places):
            raise ValueError(f"Template {template.summary!r}: {{place}} needs places, and places need it")
        if template.located and template.places:
            raise ValueError(f"Template {template.summary!r}: a point or a place, not both")
        for text in (template.summary, template.detail):
            if any(char in text for char in "\t\n\r\\"):
                raise ValueError(f"Template {template.summary!r}: no tabs, newlines or backslashes")
        if len(template.summary) > 150:
            raise ValueError(f"Template {template.summary!r}: summary too long once a place is named")
        if (template.kind is PROTECTIVE) != template.category.startswith(
            ("trusted-", "positive-", "education-", "family-support")
        ):
            raise ValueError(f"Template {template.summary!r}: protective factors use protective categories")
