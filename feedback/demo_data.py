"""Deterministic demo survey responses for "Greenleaf Plants".

Greenleaf Plants is a small plant shop / garden centre that also sells online (including a
monthly "plant care club" subscription box and office planting quotes). This module generates
believable customer-journey survey responses so the dashboard has something to show out of the
box. The generated data is meant to "tell a story":

* ``retention`` is clearly the weakest stage (slow support replies, plants dying shortly after
  delivery with slow refunds, missing care instructions, confusing onboarding emails), averaging
  roughly 2.6/5, but it has been improving over the last 30 days;
* the other CSAT stages are mostly positive (about 4.0-4.4/5) with a realistic minority of
  neutral and negative comments;
* ``advocacy`` uses NPS (0-10) and is mostly 8-10 with a few detractors.

:func:`generate_demo_responses` makes a few hundred responses over 90 days. For a year at
scale (the bulk loader in ``feedback/demo.py``) the last section adds the same story spread
over the calendar: a growing business with a spring rush and a pre-Christmas peak, purchase
turning sour in the Christmas rush, and a pool of comments to draw from, so that each distinct
comment is scored for sentiment once.

The module only uses the standard library and has no import-time side effects beyond defining
constants. Everything is driven by a local :class:`random.Random` so results are deterministic
for a given seed.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass

__all__ = [
    "ADVOCACY_SCALE",
    "ANSWER_RATES",
    "CSAT_SCALE",
    "HOUR_CUM_WEIGHTS",
    "RESOLUTION_NOTES",
    "STAGE_SCALES",
    "STAGE_TOUCHPOINTS",
    "STAGE_WEIGHTS",
    "DemoResponse",
    "allocate_counts",
    "comment_pool",
    "day_weights",
    "email_part",
    "generate_demo_responses",
    "rating_table",
    "tone_weights",
    "touchpoint_weights",
]

# --------------------------------------------------------------------------------------------
# Journey definition (stage and touchpoint keys are a contract with the rest of the app)
# --------------------------------------------------------------------------------------------

CSAT_SCALE: tuple[int, int] = (1, 5)
ADVOCACY_SCALE: tuple[int, int] = (0, 10)

STAGE_TOUCHPOINTS: dict[str, tuple[str, ...]] = {
    "awareness": ("ad-click", "referral"),
    "consideration": ("discovery-call", "quote-sent"),
    "purchase": ("checkout", "order-delivered"),
    "retention": ("onboarding-complete", "support-ticket-solved"),
    "advocacy": ("renewal", "referral-made"),
}

STAGE_SCALES: dict[str, tuple[int, int]] = {
    "awareness": CSAT_SCALE,
    "consideration": CSAT_SCALE,
    "purchase": CSAT_SCALE,
    "retention": CSAT_SCALE,
    "advocacy": ADVOCACY_SCALE,
}

#: Share of responses per stage.
STAGE_WEIGHTS: dict[str, float] = {
    "awareness": 0.15,
    "consideration": 0.15,
    "purchase": 0.30,
    "retention": 0.25,
    "advocacy": 0.15,
}

_POSITIVE = "positive"
_NEUTRAL = "neutral"
_NEGATIVE = "negative"
_TONES: tuple[str, str, str] = (_POSITIVE, _NEUTRAL, _NEGATIVE)

#: Share of (positive, neutral, negative) tone per stage.
_TONE_WEIGHTS: dict[str, tuple[float, float, float]] = {
    "awareness": (0.80, 0.12, 0.08),
    "consideration": (0.79, 0.13, 0.08),
    "purchase": (0.78, 0.13, 0.09),
    "retention": (0.16, 0.20, 0.64),  # days_ago >= 30
    "advocacy": (0.76, 0.16, 0.08),
}
#: Retention over the last 30 days: "it's getting better".
_RETENTION_RECENT_TONE_WEIGHTS: tuple[float, float, float] = (0.36, 0.24, 0.40)
_RECENT_DAYS = 30.0
_WINDOW_DAYS = 90.0

#: Touchpoint weights per stage and tone (same order as ``STAGE_TOUCHPOINTS``).
_TOUCHPOINT_WEIGHTS: dict[str, dict[str, tuple[float, float]]] = {
    "awareness": {_POSITIVE: (0.55, 0.45), _NEUTRAL: (0.65, 0.35), _NEGATIVE: (0.65, 0.35)},
    "consideration": {_POSITIVE: (0.45, 0.55), _NEUTRAL: (0.45, 0.55), _NEGATIVE: (0.4, 0.6)},
    "purchase": {_POSITIVE: (0.4, 0.6), _NEUTRAL: (0.5, 0.5), _NEGATIVE: (0.45, 0.55)},
    # support-ticket-solved carries most of the bad retention experiences.
    "retention": {_POSITIVE: (0.55, 0.45), _NEUTRAL: (0.4, 0.6), _NEGATIVE: (0.28, 0.72)},
    "advocacy": {_POSITIVE: (0.5, 0.5), _NEUTRAL: (0.6, 0.4), _NEGATIVE: (0.7, 0.3)},
}

#: Rating distributions per tone: ((value, weight), ...).
_CSAT_RATINGS: dict[str, tuple[tuple[int, float], ...]] = {
    _POSITIVE: ((5, 0.66), (4, 0.34)),
    _NEUTRAL: ((3, 0.6), (4, 0.28), (2, 0.12)),
    _NEGATIVE: ((1, 0.45), (2, 0.55)),
}
#: Happy retention customers are a little more reserved.
_RETENTION_POSITIVE_RATINGS: tuple[tuple[int, float], ...] = ((5, 0.5), (4, 0.5))
_NPS_RATINGS: dict[str, tuple[tuple[int, float], ...]] = {
    _POSITIVE: ((10, 0.52), (9, 0.40), (8, 0.08)),
    _NEUTRAL: ((8, 0.55), (7, 0.45)),
    _NEGATIVE: ((6, 0.3), (5, 0.25), (4, 0.15), (3, 0.12), (2, 0.08), (1, 0.05), (0, 0.05)),
}

_COMMENT_SKIP_RATE = 0.15
#: Chance that a clearly positive/negative response has its rating flipped to the other end
#: of the scale (the customer read the scale the wrong way round). ~3% of all responses.
_MISMATCH_RATE = 0.035
_OPT_IN_RATES: dict[str, float] = {_POSITIVE: 0.19, _NEUTRAL: 0.085, _NEGATIVE: 0.055}
_ANONYMOUS_QUOTE_RATE = 0.2
_MAX_COMMENT_CHARS = 250

_DEFAULT_CUSTOMERS = 250
#: Average number of responses per customer when ``count`` is large.
_RESPONSES_PER_CUSTOMER = 1.6

# --------------------------------------------------------------------------------------------
# Hand-written comments: stage -> touchpoint -> tone -> base comments
# --------------------------------------------------------------------------------------------

_COMMENTS: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "awareness": {
        "ad-click": {
            _POSITIVE: (
                (
                    "Saw your ad on Instagram for the monstera and clicked straight through. Site "
                    "looked lovely."
                ),
                "The ad actually showed the real plant, not some stock photo. That's why I clicked",
                (
                    "ad popped up right when i was looking for a birthday present for my mum, "
                    "perfect timing"
                ),
                (
                    "Loved the little video of someone repotting a snake plant in the ad. Made me "
                    "want one"
                ),
                "First plant ad I've clicked in ages that didn't feel spammy.",
                (
                    "Clicked the ad for the fiddle leaf fig and the price on the page matched the "
                    "ad. Refreshing honestly"
                ),
                "the ad said free delivery on bigger orders and it was true, no catch",
                "Nice ad, went straight to the trailing plants I was after. Easy.",
                "Great ad, loved the plants shown",
            ),
            _NEUTRAL: (
                "Ad was fine. Took me to the homepage instead of the plant I clicked on though.",
                "Saw the ad a few times before clicking. It's ok, nothing special",
                "clicked out of curiosity, still browsing for now",
                "The ad was nice but the page took a while to load on my phone.",
            ),
            _NEGATIVE: (
                "Ad showed a huge monstera, the one actually in stock is tiny. A bit misleading.",
                "I've seen this ad about 30 times this week. Please stop.",
                "Clicked the ad for the discount code and it didn't work at checkout",
                "Oh great, the 20% off in the ad was 'selected lines only'. Of course it was.",
                "The ad link went straight to a page that said out of stock",
            ),
        },
        "referral": {
            _POSITIVE: (
                "My sister wouldn't stop talking about her plants from you so here I am 😊",
                (
                    "A friend gave me her referral link and the welcome discount came through "
                    "straight away."
                ),
                (
                    "Coworker recommended you after her office ferns survived a whole winter. "
                    "That's a good sign!"
                ),
                (
                    "Neighbour's garden looks amazing and she said it all came from Greenleaf. Had "
                    "to check you out"
                ),
                "got the referral code from my flatmate, super easy to use",
                "My friend swears by your care cards so I thought I'd give you a try.",
                "Heard about you at my book club, three of them are customers apparently!",
                (
                    "My colleague has the most gorgeous fiddle leaf fig on her desk and when I "
                    "asked where it was from she sent me your link straight away. Had a browse on "
                    "my lunch break and already picked out two plants for the living room 😊"
                ),
            ),
            _NEUTRAL: (
                "Friend sent me the link. Haven't decided what to buy yet.",
                "Referral code worked but I had to type it in manually, the link didn't apply it",
                "A friend recommended you, looks nice so far but a bit pricey",
            ),
            _NEGATIVE: (
                "Referral code said invalid twice. My friend had to send me a new one",
                "Friend recommended you but the referral discount was way smaller than she said.",
                "the referral email went to my spam folder so I almost missed the offer",
            ),
        },
    },
    "consideration": {
        "discovery-call": {
            _POSITIVE: (
                (
                    "Had a call about plants for our office. Priya really knew her stuff, "
                    "suggested low light plants I'd never heard of"
                ),
                (
                    "Really helpful call, they asked about the light in every room before "
                    "suggesting anything."
                ),
                (
                    "the guy on the call talked me out of a fiddle leaf fig for my dark hallway. "
                    "honest advice, appreciated 👍"
                ),
                "Call was short and useful. No hard sell at all.",
                "They called exactly when they said they would. Shouldn't be rare but it is",
                (
                    "Loved that they asked about my cat before recommending anything. The pet safe "
                    "list was super helpful"
                ),
                "Lovely chat about our balcony, they even knew which plants cope with wind",
                "Super helpful, thanks so much!",
            ),
            _NEUTRAL: (
                "Call was ok, felt a bit rushed at the end",
                "Useful info but I had to reschedule twice because of their availability.",
                "Decent call. Would have liked some photos sent over afterwards",
            ),
            _NEGATIVE: (
                "Waited 15 minutes on the call before anyone joined.",
                "Felt more like a sales pitch than actual advice tbh",
                (
                    "The person on the call didn't seem to know what a calathea was. Not "
                    "confidence inspiring"
                ),
                "Booked a call, nobody rang. Wonderful start.",
                (
                    "Booked a discovery call for our new office, the consultant was 20 minutes "
                    "late and then spent most of the call pushing the priciest planters. Asked "
                    "about low maintenance options and got no real answer."
                ),
            ),
        },
        "quote-sent": {
            _POSITIVE: (
                "Quote arrived within the hour, clear and itemised. Very impressed.",
                "Got the quote for the balcony planters the same day, price was fair",
                "Quote included delivery and repotting, no hidden extras. Thank you!",
                "the quote even listed which plants are pet safe, nice touch 🌿",
                (
                    "Quick turnaround on the quote for our restaurant and they offered a cheaper "
                    "alternative too"
                ),
                "Clear quote, easy to accept online, done in two clicks.",
                "quote came back before I'd even finished my coffee lol. brilliant",
            ),
            _NEUTRAL: (
                "Quote was fine, a little pricier than I expected.",
                "Got the quote, still comparing it with a local nursery",
                "Quote took 2 days. Not bad, not great",
                "Quote was clear but didn't mention how often the office plants get maintained",
            ),
            _NEGATIVE: (
                "Quote had the wrong plants on it, had to email back and forth three times",
                "The quote was nearly double what was mentioned on the call.",
                "Still waiting for my quote after a week. Wow, such speed.",
                "Quote expired before anyone answered my questions about it",
            ),
        },
    },
    "purchase": {
        "checkout": {
            _POSITIVE: (
                "Checkout was quick, paid with Apple Pay in seconds.",
                "Easy checkout and I could pick a delivery day, which I love",
                "smooth checkout, the gift message option was a nice touch",
                "Really easy to order on my phone. Done in 2 mins 👍",
                "Liked that it showed the pot size and plant height before I paid",
                "Used the guest checkout, no fuss at all. Great.",
                "Checkout remembered my address from last time, super quick",
                "Easy checkout, no complaints at all",
            ),
            _NEUTRAL: (
                "Checkout ok but why does it ask me to create an account just to buy one plant",
                "Fine. The postcode lookup didn't find my address so I typed it in",
                "took a couple of tries for the discount code to apply but got there",
                "Delivery costs only appear at the very last step. Not ideal.",
            ),
            _NEGATIVE: (
                "Checkout forced me to create an account. I just wanted a cactus.",
                "Payment failed three times and then charged me twice. Still sorting it out",
                "The page kept timing out at checkout on my phone",
                "Couldn't choose a delivery date at checkout even though the site says you can.",
                "Checkout kept crashing. So annoying.",
            ),
        },
        "order-delivered": {
            _POSITIVE: (
                (
                    "Plants arrived in perfect condition, so much bubble wrap! The monstera is "
                    "gorgeous 🌿"
                ),
                "Delivery driver was lovely, even carried the big pot up to my flat.",
                "Fiddle leaf fig arrived healthy and bigger than I expected",
                (
                    "Packaging was amazing, not a single leaf damaged. And paper tape instead of "
                    "plastic, nice"
                ),
                "The care card in the box is so helpful, it's stuck on my fridge now",
                "Arrived next day and really well packed. Very happy",
                "the driver texted a 1 hour window and turned up right in the middle of it",
                "Everything came healthy and the pots are even nicer in person 😊",
                "Ordered a peace lily for my gran, she was thrilled. Arrived looking perfect",
                "Perfect condition, thank you so much!",
                (
                    "Honestly the best packaged delivery I've had. Each plant wrapped separately, "
                    "the monstera had a little stake so it didn't flop, and the care card said "
                    "exactly where to put it. The driver even waited while I checked!"
                ),
            ),
            _NEUTRAL: (
                "Arrived fine, a couple of bent leaves on the pothos but it'll recover",
                "Delivery was a day later than the estimate, but the plants were ok.",
                "Good plants. Way too much bubble wrap though, took ages to unwrap",
                "ok overall, one of the pots had a small chip on the rim",
            ),
            _NEGATIVE: (
                "Driver left the box outside the building in the rain. Soil everywhere.",
                "Half the soil had spilled out of the pot in transit",
                "No care card in the box even though the website says there'd be one",
                "Delivered to my neighbour without telling me. Found out two days later",
                "box was crushed and it snapped the top off the monstera 😞",
            ),
        },
    },
    "retention": {
        "onboarding-complete": {
            _POSITIVE: (
                "Welcome emails were actually useful, the watering reminder is a lifesaver",
                "The care guide in the welcome pack was clear and had pictures. Love it",
                "onboarding was simple, set up my plant profiles in a few minutes",
                "Liked the week one email about where to put each plant in the flat.",
                "The care club app's watering reminders are great, my fern is thriving",
            ),
            _NEUTRAL: (
                "Onboarding emails were ok but way too many of them, bit annoying",
                (
                    "Took me a while to figure out the care club app, confusing at first but it "
                    "works now."
                ),
                "Set up fine. The watering schedule seems a bit generic though",
                (
                    "Welcome pack was ok, but the care card only covered one of my three plants. "
                    "Bit disappointing"
                ),
            ),
            _NEGATIVE: (
                (
                    "The onboarding emails were really confusing. Three different watering "
                    "schedules for the same plant??"
                ),
                (
                    "No care instructions anywhere. The card wasn't in the box and the link in the "
                    "email was broken"
                ),
                (
                    "got 4 onboarding emails in one day and none of them said how often to water "
                    "the calathea. useless"
                ),
                (
                    "Welcome email told me to log in to an account I never created. Confusing and "
                    "annoying"
                ),
                (
                    "The 'getting started' guide is for a completely different plant than the one "
                    "I bought. Ridiculous"
                ),
                (
                    "Care instructions missing, had to google everything. Pretty poor for a "
                    "specialist shop"
                ),
                "onboarding emails keep linking to a broken page, really frustrating",
                (
                    "Signed up for the care club and the first email was just a sales pitch. "
                    "Disappointing"
                ),
                (
                    "Onboarding was a mess. The emails contradicted the care card and the app "
                    "crashed twice"
                ),
                "Confusing emails, no care card. Awful.",
            ),
        },
        "support-ticket-solved": {
            _POSITIVE: (
                "Support got back to me the same day and sent a replacement pothos. Thanks!",
                "Finally someone helpful! Tom sorted my refund in one email 👍",
                "Refund came through in two days, no quibbles. Thank you",
                "Support sent photos showing how to deal with the root rot, plant is recovering",
                (
                    "Replacement fiddle leaf fig arrived two days after I reported the problem. "
                    "Impressed"
                ),
            ),
            _NEUTRAL: (
                "Got there in the end but it took 3 emails to explain the same thing. Slow",
                "Issue resolved, but the replies took about 4 days each. Frustrating wait.",
                "Fine, replacement was sent, but I had to send the photos twice",
                "Plant replaced eventually. No explanation of why it died though",
                "ok, sorted eventually. the chat bot was useless but the human was nice",
            ),
            _NEGATIVE: (
                (
                    "My fiddle leaf fig died a week after delivery and the refund took over three "
                    "weeks 😡"
                ),
                "Took 6 days to get a reply to my support ticket. The plant was dead by then",
                "Ticket marked as 'solved' but nobody actually solved anything. Useless.",
                (
                    "Monstera died within a week, sent photos, still waiting on my refund. Great "
                    "service, really."
                ),
                "support replies are SO slow. 5 days for a one line answer. terrible",
                (
                    "Had to chase my refund four times, and each time a different person asked me "
                    "to start again. Exhausting"
                ),
                "Got an automated 'we're on it!' email and then silence for a week. Really poor",
                (
                    "Plant arrived with root rot and died in 8 days. Refund took a month. Won't be "
                    "back"
                ),
                (
                    "They replied to my ticket with a link to the FAQ, which doesn't cover my "
                    "problem. Annoying"
                ),
                "Nobody answers the phone and emails take forever. Awful support",
                "It's been 12 days and my refund still says processing. Not acceptable",
                "Waited a week for a reply asking for the photos I'd already sent. Infuriating",
                "Worst customer service I've had in ages. Plants are nice, the aftercare is awful",
                "Still no refund. Very disappointed.",
                (
                    "Ordered a calathea as a gift and it was dead within ten days. Support took a "
                    "week to answer, asked for photos, then another week for the refund. Really "
                    "disappointed, it was supposed to be a present."
                ),
            ),
        },
    },
    "advocacy": {
        "renewal": {
            _POSITIVE: (
                (
                    "Renewed my monthly plant box without a second thought, every plant so far has "
                    "thrived"
                ),
                "Renewed for another year. The seasonal plants are always a nice surprise 🌿",
                "Best subscription I have, honestly. Renewed straight away",
                "Renewing because the plants are healthy and the care cards finally make sense",
                "Renewed, and the loyalty discount was a lovely surprise.",
                "third year in the care club and still excited every time the box arrives",
                (
                    "Just renewed the care club for another year. Every plant has arrived healthy, "
                    "the monthly tips are genuinely useful and when a pothos looked sad they "
                    "replaced it without any fuss. Couldn't ask for more 🌿"
                ),
            ),
            _NEUTRAL: (
                "Renewed but I might pause it over the winter",
                "Renewed. Prices went up a bit, still worth it I guess",
                "Renewed for now, the last couple of boxes were a bit samey",
                "Renewed, though the delivery slots keep changing which is a pain",
            ),
            _NEGATIVE: (
                "Renewed automatically without any reminder email. Not happy about that",
                "Only renewed because cancelling was too much hassle.",
                "Thinking of cancelling after all the support issues this spring",
                "Renewal price jumped with zero warning. Pretty cheeky tbh",
            ),
        },
        "referral-made": {
            _POSITIVE: (
                "Already sent my referral link to three friends, they all love their plants",
                "Recommended you to my whole office after our plant wall went in 😊",
                "Told my mum about you and she's ordered twice already",
                "Referred my neighbour, we both got the discount, win win",
                "I recommend Greenleaf to anyone who asks where my monstera is from.",
                "would 100% recommend, the plants are healthier than anything from the supermarket",
                "Sent my brother your way for his new flat, he's hooked now",
                "Best plant shop around, full stop.",
                "I tell everyone I know about you",
            ),
            _NEUTRAL: (
                "I'd recommend you for the plants, maybe not for the customer service",
                "Recommended you to a friend, but told her to check the delivery date carefully",
                "Mentioned you to a few people, the plants are good but nothing amazing",
            ),
            _NEGATIVE: (
                "Recommended you to a friend and her order arrived damaged. Embarrassing.",
                "Can't really recommend you after how my refund was handled",
                "Told a friend to wait until the support gets sorted. Sorry",
            ),
        },
    },
}

#: Stage-specific extra details appended after the base comment.
_EXTRAS: dict[str, dict[str, tuple[str, ...]]] = {
    "awareness": {
        _POSITIVE: (
            "The website is really pretty too.",
            "Already have three plants in my basket lol",
            "Love that you're a local shop as well as online.",
        ),
        _NEUTRAL: ("Might pop into the garden centre instead.", "Will have a proper look later"),
        _NEGATIVE: ("Not a great first impression.", "Might just go to the supermarket"),
    },
    "consideration": {
        _POSITIVE: (
            "Felt like talking to an actual plant nerd, in the best way.",
            "Booked the delivery straight after.",
            "Way more helpful than the big chains.",
        ),
        _NEUTRAL: ("Still deciding.", "Need to check with my manager first"),
        _NEGATIVE: ("Probably going elsewhere.", "Doesn't fill me with confidence"),
    },
    "purchase": {
        _POSITIVE: (
            "The repotting service was worth every penny.",
            "Even the soil smelled fresh haha",
            "Will be ordering a fiddle leaf fig next.",
            "Already repotted it and it's putting out a new leaf!",
        ),
        _NEUTRAL: ("Plants look healthy at least.", "Hoping the next order goes smoother"),
        _NEGATIVE: (
            "Emailed support about it, no reply yet.",
            "For the price I expected better.",
        ),
    },
    "retention": {
        _POSITIVE: (
            "Really happy with how that was handled.",
            "Plant is doing great now.",
        ),
        _NEUTRAL: (
            "Could be a lot quicker though.",
            "Slow, but got there in the end.",
        ),
        _NEGATIVE: (
            "Still no reply to my last email.",
            "And the care card was missing too, of course.",
            "Was really excited about this plant as well, now just sad.",
            "Really puts me off ordering again.",
            "Five stars for the plant, zero for the aftercare.",
        ),
    },
    "advocacy": {
        _POSITIVE: (
            "My flat is basically a jungle now.",
            "The plants are always healthy, that's what matters.",
            "Keep doing what you're doing!",
        ),
        _NEUTRAL: ("Support could be quicker though.", "Great plants, ok service"),
        _NEGATIVE: ("Used to love this shop.", "The plants are great, the service isn't"),
    },
}

#: Retention comments that only make sense in the last 30 days ("it's getting better"):
#: touchpoint -> positive base comments, plus extras for positive/neutral recent responses.
_RETENTION_RECENT_COMMENTS: dict[str, tuple[str, ...]] = {
    "onboarding-complete": (
        "New care card is so much clearer than the old one, thanks for listening",
        "The new welcome emails are way better, one clear watering schedule at last 👍",
    ),
    "support-ticket-solved": (
        "Much quicker reply this time, sorted within a day. Good improvement",
        "Support seems a lot faster lately, got a reply the same afternoon",
    ),
}
_RETENTION_RECENT_EXTRAS: tuple[str, ...] = (
    "Much better than the last time I had a problem.",
    "Whatever you changed recently, it's working.",
    "Glad to see the support has improved.",
)
_RETENTION_RECENT_RATE = 0.45

#: Opening phrases per tone (full sentences so capitalisation of the base comment still works).
_OPENERS: dict[str, tuple[str, ...]] = {
    _POSITIVE: (
        "Honestly impressed.",
        "So happy!",
        "Wow.",
        "Really pleased.",
        "Have to say it,",
        "Lovely experience.",
        "Can't fault it.",
        "10/10.",
        "Ok so",
    ),
    _NEUTRAL: ("Hmm.", "Overall ok.", "Mixed feelings.", "Not bad.", "It was fine I guess."),
    _NEGATIVE: (
        "So disappointed.",
        "Ugh.",
        "Not impressed.",
        "Really frustrating.",
        "Where do I even start.",
        "Sorry but",
    ),
}

#: Closing phrases per tone.
_CLOSERS: dict[str, tuple[str, ...]] = {
    _POSITIVE: (
        "Will definitely order again.",
        "Thanks team!",
        "Keep it up.",
        "Already eyeing up my next plant.",
        "Great little business.",
        "Thank you so much",
    ),
    _NEUTRAL: ("Might order again.", "Room for improvement.", "We'll see.", "Not a dealbreaker."),
    _NEGATIVE: (
        "Please sort this out, it's a mess.",
        "Really let down.",
        "Not sure I'll order again.",
        "Really disappointing for the price.",
        "Thanks for nothing I guess.",
    ),
}

_EMOJI: dict[str, tuple[str, ...]] = {
    _POSITIVE: ("🌿", "😊", "👍", "🪴", "💚", "🌱"),
    _NEUTRAL: ("🤷", "😐", "👍"),
    _NEGATIVE: ("😡", "🙄", "😞", "👎"),
}

#: Common phone-keyboard misspellings.
_TYPOS: dict[str, str] = {
    "really": "realy",
    "definitely": "definately",
    "just": "jsut",
    "with": "wiht",
    "ordered": "orderd",
    "email": "emial",
    "because": "becuase",
    "arrived": "arived",
    "delivery": "delivey",
    "though": "tho",
    "recommend": "reccomend",
    "actually": "acutally",
    "which": "whcih",
    "waiting": "wating",
    "plants": "plamts",
}

_OPENER_RATE = 0.22
_EXTRA_RATE = 0.25
_CLOSER_RATE = 0.25
_EMOJI_RATE = 0.18
_LOWERCASE_RATE = 0.12
_TYPO_RATE = 0.1
_DROP_FINAL_PERIOD_RATE = 0.3

# --------------------------------------------------------------------------------------------
# Customer names
# --------------------------------------------------------------------------------------------

# fmt: off
_FIRST_NAMES: tuple[str, ...] = (
    "Maria", "James", "Aisha", "Wei", "Priya", "Oliver", "Fatima", "Liam", "Sofia", "Mohammed",
    "Chloé", "Kwame", "Yuki", "Ethan", "Amara", "Lucas", "Zoë", "Hiroshi", "Ana", "Daniel",
    "Leila", "Noah", "Ingrid", "Mateo", "Nia", "Ravi", "Emma", "Tomasz", "Grace", "Omar",
    "Hannah", "Diego", "Mei", "Samuel", "Olga", "Kofi", "Isabella", "Arjun", "Freya", "Jamal",
    "Elena", "Sarah", "Tariq", "Lucy", "João", "Aoife", "Ibrahim", "Rosa", "Dmitri", "Chidi",
    "Ella", "Ahmed", "Sakura", "Ben", "Layla", "Marcus", "Anjali", "Niamh", "Pablo", "Eun-ji",
    "Theo", "Zainab", "Rory", "Camille", "Kenji", "Bethany", "Sipho", "Alice", "Hamza", "Ruth",
    "Luca", "Imani", "Patrick", "Farah", "Jonas", "Mia", "Andre", "Tamsin", "Vikram", "Jade",
    "Emeka", "Sara", "Finn", "Nadia", "Gabriel", "Helen", "Yusuf", "Georgia", "Kai", "Margaret",
    "Dev", "Esther", "José", "Lin", "Renée", "Connor", "Ayesha", "Peter", "Thandiwe", "Matteo",
)
# fmt: on

# fmt: off
_LAST_NAMES: tuple[str, ...] = (
    "Kowalski", "Smith", "Okafor", "Nguyen", "Patel", "Garcia", "Müller", "O'Brien", "Chen",
    "Johansson", "Haddad", "Kim", "Williams", "Ahmed", "Rossi", "Mensah", "Tanaka", "Brown",
    "Fernandes", "Novak", "Singh", "Murphy", "Dubois", "Petrov", "Hughes", "Adeyemi", "Larsen",
    "Hernandez", "Walsh", "Cohen", "Sato", "Jones", "Kaur", "Mahmoud", "Bianchi", "Osei",
    "Park", "Taylor", "Lopez", "Schmidt", "Kelly", "Yilmaz", "Andersen", "Mwangi", "Li",
    "Evans", "Silva", "Nowak", "Hassan", "Moreau", "Clarke", "Reyes", "Bergström", "Wong",
    "Davies", "Costa", "Fischer", "Byrne", "Demir", "Khan", "Nakamura", "Green", "Ortiz",
    "Lindqvist", "Boateng", "Ali", "Wright", "Santos", "Horvath", "Gallagher", "Sharma",
    "Ferreira", "Jensen", "Adebayo", "Cooper", "Romano", "Kaya", "Zhang", "Thompson", "Morales",
    "Eriksson", "Lee", "Bennett", "Marino", "Kovacs", "Doherty", "Iyer", "Pereira", "Nwosu",
    "Ward", "Castillo", "Foster", "Smith-Jones", "MacLeod", "Abiodun", "Van Dijk", "Dlamini",
)
# fmt: on

_EMAIL_DOMAINS: tuple[str, ...] = ("example.com", "example.org", "example.net")

# fmt: off
_ASCII_FOLD = str.maketrans(
    {
        "é": "e", "ë": "e", "è": "e", "ê": "e", "á": "a", "à": "a", "â": "a", "ã": "a",
        "å": "a", "ä": "a", "í": "i", "ï": "i", "ó": "o", "ö": "o", "ô": "o", "õ": "o",
        "ø": "o", "ú": "u", "ü": "u", "ñ": "n", "ç": "c",
    }
)
# fmt: on


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoResponse:
    """One generated survey response.

    Attributes:
        stage: Journey stage key (see ``STAGE_TOUCHPOINTS``).
        touchpoint: Touchpoint key belonging to ``stage``.
        rating: Rating on the stage's scale (1-5 CSAT, or 0-10 NPS for ``advocacy``).
        comment: Free-text comment, or ``None`` when the customer skipped it.
        opt_in: Whether the customer agreed to be quoted publicly.
        display_name: Public name ("Maria K.") when opted in; ``None`` when not opted in or
            when the customer wants to be quoted anonymously.
        customer_name: Full customer name.
        customer_email: Customer e-mail under example.com/.org/.net, unique per customer.
        days_ago: How long ago the response was submitted (``0 <= days_ago < 90``).
    """

    stage: str
    touchpoint: str
    rating: int
    comment: str | None
    opt_in: bool
    display_name: str | None
    customer_name: str
    customer_email: str
    days_ago: float


def generate_demo_responses(count: int = 400, seed: int = 7) -> list[DemoResponse]:
    """Generate ``count`` realistic demo survey responses for Greenleaf Plants.

    The result is deterministic for a given ``(count, seed)`` and sorted oldest first
    (descending ``days_ago``). A customer may answer at several stages but never twice for the
    same stage and touchpoint.

    Args:
        count: Number of responses to generate (must be >= 0).
        seed: Seed for the private random generator.

    Returns:
        The generated responses.

    Raises:
        ValueError: If ``count`` is negative.
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    if count == 0:
        return []

    rng = random.Random(seed)
    customers = _make_customers(rng, _customer_pool_size(count))
    stages = _allocate(rng, tuple(STAGE_WEIGHTS), tuple(STAGE_WEIGHTS.values()), count)
    days = [rng.random() * _WINDOW_DAYS for _ in range(count)]
    tones = _assign_tones(rng, stages, days)
    skipped = set(rng.sample(range(count), round(count * _COMMENT_SKIP_RATE)))

    # Every customer answers at least once (as far as ``count`` allows); the rest are repeats.
    first_pass = list(range(len(customers)))
    rng.shuffle(first_pass)
    used: set[tuple[int, str, str]] = set()

    responses: list[DemoResponse] = []
    for index, (stage, days_ago, tone) in enumerate(zip(stages, days, tones, strict=True)):
        touchpoint = _pick_touchpoint(rng, stage, tone)
        preferred = first_pass[index] if index < len(first_pass) else None
        customer_index = _pick_customer(rng, len(customers), (stage, touchpoint), used, preferred)
        used.add((customer_index, stage, touchpoint))
        first, last, email = customers[customer_index]

        rating = _pick_rating(rng, stage, tone)
        if tone != _NEUTRAL and rng.random() < _MISMATCH_RATE:
            low, high = STAGE_SCALES[stage]
            rating = low + high - rating  # read the scale the wrong way round

        comment = None
        if index not in skipped:
            recent = days_ago < _RECENT_DAYS
            comment = _make_comment(rng, stage, touchpoint, tone, recent=recent)

        opt_in = rng.random() < _OPT_IN_RATES[tone]
        display_name = None
        if opt_in and rng.random() >= _ANONYMOUS_QUOTE_RATE:
            display_name = f"{first} {last[0].upper()}."

        responses.append(
            DemoResponse(
                stage=stage,
                touchpoint=touchpoint,
                rating=rating,
                comment=comment,
                opt_in=opt_in,
                display_name=display_name,
                customer_name=f"{first} {last}",
                customer_email=email,
                days_ago=days_ago,
            )
        )

    responses.sort(key=lambda response: response.days_ago, reverse=True)
    return responses


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _customer_pool_size(count: int) -> int:
    """Return the number of distinct customers for ``count`` responses (250 for 400)."""
    return max(min(count, _DEFAULT_CUSTOMERS), math.ceil(count / _RESPONSES_PER_CUSTOMER))


def _make_customers(rng: random.Random, size: int) -> list[tuple[str, str, str]]:
    """Create ``size`` distinct customers as ``(first_name, last_name, email)`` tuples."""
    max_unique = len(_FIRST_NAMES) * len(_LAST_NAMES)
    if size > max_unique:
        raise ValueError(f"cannot generate more than {max_unique} distinct customers")

    names: list[tuple[str, str]] = []
    seen_names: set[tuple[str, str]] = set()
    while len(names) < size:
        name = (rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES))
        if name not in seen_names:
            seen_names.add(name)
            names.append(name)

    customers: list[tuple[str, str, str]] = []
    seen_emails: set[str] = set()
    for first, last in names:
        email = _make_email(rng, first, last, seen_emails)
        seen_emails.add(email)
        customers.append((first, last, email))
    return customers


def _email_part(name: str) -> str:
    """Lower-case ASCII letters/digits only ("O'Brien" -> "obrien", "Zoë" -> "zoe")."""
    folded = name.lower().translate(_ASCII_FOLD)
    return "".join(char for char in folded if char.isascii() and char.isalnum())


def _make_email(rng: random.Random, first: str, last: str, taken: set[str]) -> str:
    """Derive a plausible, unused e-mail address from a customer's name."""
    f, l_ = _email_part(first), _email_part(last)
    patterns = (
        f"{f}.{l_}",
        f"{f}.{l_}",
        f"{f[0]}{l_}",
        f"{f}{l_[0]}",
        f"{f}_{l_}",
        f"{f}{l_}",
        f"{f}.{l_}{rng.randint(1, 99)}",
        f"{f}{rng.randint(1970, 2004)}",
    )
    local = rng.choice(patterns)
    domain = rng.choice(_EMAIL_DOMAINS)
    email = f"{local}@{domain}"
    suffix = 2
    while email in taken:
        email = f"{local}{suffix}@{domain}"
        suffix += 1
    return email


def _allocate(
    rng: random.Random, labels: tuple[str, ...], weights: tuple[float, ...], count: int
) -> list[str]:
    """Split ``count`` slots across ``labels`` in proportion to ``weights``, shuffled.

    Uses the largest-remainder method so small samples still match the intended mix closely
    (independent draws would make the story depend too much on the seed).
    """
    total = sum(weights)
    exact = [count * weight / total for weight in weights]
    quotas = [math.floor(value) for value in exact]
    leftover = count - sum(quotas)
    by_remainder = sorted(range(len(labels)), key=lambda i: exact[i] - quotas[i], reverse=True)
    for i in by_remainder[:leftover]:
        quotas[i] += 1
    slots = [label for label, quota in zip(labels, quotas, strict=True) for _ in range(quota)]
    rng.shuffle(slots)
    return slots


def _assign_tones(rng: random.Random, stages: list[str], days: list[float]) -> list[str]:
    """Assign positive/neutral/negative tones per stage; retention improves recently."""
    groups: dict[tuple[str, bool], list[int]] = {}
    for index, (stage, days_ago) in enumerate(zip(stages, days, strict=True)):
        recent = stage == "retention" and days_ago < _RECENT_DAYS
        groups.setdefault((stage, recent), []).append(index)

    tones = [_NEUTRAL] * len(stages)
    for (stage, recent), indices in groups.items():
        weights = _RETENTION_RECENT_TONE_WEIGHTS if recent else _TONE_WEIGHTS[stage]
        for index, tone in zip(indices, _allocate(rng, _TONES, weights, len(indices)), strict=True):
            tones[index] = tone
    return tones


def _pick_touchpoint(rng: random.Random, stage: str, tone: str) -> str:
    """Pick a touchpoint of ``stage``, weighted by where that tone typically comes from."""
    return rng.choices(STAGE_TOUCHPOINTS[stage], weights=_TOUCHPOINT_WEIGHTS[stage][tone])[0]


def _pick_rating(rng: random.Random, stage: str, tone: str) -> int:
    """Pick a rating on the stage's scale that matches ``tone``."""
    if stage == "advocacy":
        table = _NPS_RATINGS[tone]
    elif stage == "retention" and tone == _POSITIVE:
        table = _RETENTION_POSITIVE_RATINGS
    else:
        table = _CSAT_RATINGS[tone]
    values = [value for value, _ in table]
    weights = [weight for _, weight in table]
    return rng.choices(values, weights=weights)[0]


def _pick_customer(
    rng: random.Random,
    pool_size: int,
    slot: tuple[str, str],
    used: set[tuple[int, str, str]],
    preferred: int | None,
) -> int:
    """Pick a customer index that has not answered this ``(stage, touchpoint)`` slot yet."""
    stage, touchpoint = slot
    if preferred is not None and (preferred, stage, touchpoint) not in used:
        return preferred
    for _ in range(50):
        candidate = rng.randrange(pool_size)
        if (candidate, stage, touchpoint) not in used:
            return candidate
    free = [i for i in range(pool_size) if (i, stage, touchpoint) not in used]
    if not free:  # pragma: no cover - the pool is sized so this cannot happen
        raise RuntimeError("ran out of customers for a stage/touchpoint")
    return rng.choice(free)


def _has_emoji(text: str) -> bool:
    """Whether ``text`` already contains an emoji (any character above U+2000)."""
    return any(ord(char) > 0x2000 for char in text)


def _ensure_sentence_end(text: str) -> str:
    """Terminate ``text`` with punctuation so another sentence can follow it."""
    text = text.rstrip()
    if _has_emoji(text[-1:]):
        return text
    return text if text[-1] in ".!?" else f"{text}."


def _continue_sentence(text: str) -> str:
    """Lower-case the first letter so ``text`` can follow "Sorry but" (keeps "I", "I've")."""
    first_word = text.split(" ", 1)[0]
    if first_word == "I" or first_word.startswith("I'"):
        return text
    return f"{text[0].lower()}{text[1:]}"


def _add_typo(rng: random.Random, text: str) -> str:
    """Introduce one phone-keyboard style typo."""
    words = text.split(" ")
    candidates = [i for i, word in enumerate(words) if word.lower().strip(".,!?") in _TYPOS]
    if candidates:
        i = rng.choice(candidates)
        word = words[i]
        core = word.strip(".,!?")
        replacement = _TYPOS[core.lower()]
        if core[:1].isupper():
            replacement = replacement.capitalize()
        words[i] = word.replace(core, replacement, 1)
        return " ".join(words)
    # Fall back to swapping two adjacent letters in a longer word.
    long_words = [i for i, word in enumerate(words) if len(word) >= 6 and word.isalpha()]
    if not long_words:
        return text
    i = rng.choice(long_words)
    word = words[i]
    pos = rng.randrange(1, len(word) - 2)
    words[i] = word[:pos] + word[pos + 1] + word[pos] + word[pos + 2 :]
    return " ".join(words)


def _make_comment(
    rng: random.Random, stage: str, touchpoint: str, tone: str, *, recent: bool
) -> str:
    """Build a comment from a hand-written base plus small random variations.

    ``recent`` (last 30 days) lets happy retention customers mention the recent improvements.
    """
    bases = _COMMENTS[stage][touchpoint][tone]
    extras = _EXTRAS[stage][tone]
    if stage == "retention" and recent and tone != _NEGATIVE:
        if tone == _POSITIVE:
            bases = bases + _RETENTION_RECENT_COMMENTS[touchpoint]
        if rng.random() < _RETENTION_RECENT_RATE:
            extras = _RETENTION_RECENT_EXTRAS
    base = rng.choice(bases)
    opener = rng.choice(_OPENERS[tone]) if rng.random() < _OPENER_RATE else None
    extra = rng.choice(extras) if rng.random() < _EXTRA_RATE else None
    closer = rng.choice(_CLOSERS[tone]) if rng.random() < _CLOSER_RATE else None
    emoji = None
    if rng.random() < _EMOJI_RATE and not _has_emoji(base):
        emoji = rng.choice(_EMOJI[tone])

    def assemble() -> str:
        text = base
        if opener is not None:
            if opener[-1] in ".!?":
                text = f"{opener} {text}"
            else:  # "Sorry but", "Ok so": continue the sentence
                text = f"{opener} {_continue_sentence(text)}"
        for addition in (extra, closer):
            if addition is not None:
                text = f"{_ensure_sentence_end(text)} {addition}"
        if emoji is not None:
            text = f"{text} {emoji}"
        return text

    text = assemble()
    # Keep comments phone-sized: drop optional parts until short enough.
    while len(text) > _MAX_COMMENT_CHARS and (closer or extra or opener):
        if closer is not None:
            closer = None
        elif extra is not None:
            extra = None
        else:
            opener = None
        text = assemble()

    if rng.random() < _TYPO_RATE:
        text = _add_typo(rng, text)
    if rng.random() < _LOWERCASE_RATE:
        text = text.lower()
    if text.endswith(".") and not text.endswith("..") and rng.random() < _DROP_FINAL_PERIOD_RATE:
        text = text[:-1]
    return text


# --------------------------------------------------------------------------------------------
# A year of data at scale (the bulk loader in feedback/demo.py draws from these)
# --------------------------------------------------------------------------------------------

#: Share of sent surveys that get an answer, per stage: ad clicks are answered least.
ANSWER_RATES: dict[str, float] = {
    "awareness": 0.55,
    "consideration": 0.75,
    "purchase": 0.7,
    "retention": 0.6,
    "advocacy": 0.6,
}

#: Relative volume per calendar month: a plant shop's spring rush and pre-Christmas peak.
_MONTH_SEASON: tuple[float, ...] = (0.7, 0.8, 1.15, 1.4, 1.45, 1.2, 1.0, 0.95, 1.05, 1.0, 1.2, 1.35)
#: The Christmas rush strains deliveries: purchase turns sour from this day of December on...
_RUSH_START: tuple[int, int] = (11, 25)
_RUSH_TONE_WEIGHTS: tuple[float, float, float] = (0.6, 0.15, 0.25)
#: ...and the answers of the day (by local hour) follow people's evenings.
_HOUR_WEIGHTS: tuple[float, ...] = (
    0.2, 0.1, 0.05, 0.05, 0.05, 0.1, 0.3, 0.6, 0.9, 1.0, 1.0, 1.0,
    1.1, 1.2, 1.0, 0.9, 0.9, 1.0, 1.3, 1.6, 1.7, 1.5, 1.0, 0.5,
)  # fmt: skip
HOUR_CUM_WEIGHTS: tuple[float, ...] = tuple(
    sum(_HOUR_WEIGHTS[: i + 1]) / sum(_HOUR_WEIGHTS) for i in range(24)
)

RESPONSES_PER_CUSTOMER = _RESPONSES_PER_CUSTOMER
COMMENT_SKIP_RATE = _COMMENT_SKIP_RATE
MISMATCH_RATE = _MISMATCH_RATE
OPT_IN_RATES = _OPT_IN_RATES
ANONYMOUS_QUOTE_RATE = _ANONYMOUS_QUOTE_RATE
TONES = _TONES
FIRST_NAMES = _FIRST_NAMES
LAST_NAMES = _LAST_NAMES
EMAIL_DOMAINS = _EMAIL_DOMAINS
RECENT_DAYS = _RECENT_DAYS


def email_part(name: str) -> str:
    """A name as it can appear in an email address ("O'Brien" -> "obrien")."""
    return _email_part(name)


RESOLUTION_NOTES: tuple[str, ...] = (
    "Called the customer, apologised and sent a replacement plant.",
    "Refunded in full and passed the details to the courier.",
    "Emailed care instructions and booked a follow-up call in two weeks.",
    "Explained the delay; the order has now arrived.",
    "Offered a discount on the next order, customer happy with that.",
    "Spoke to the support team about the slow reply.",
    "Customer did not answer two calls; left a voicemail and an email.",
    "Fixed the discount code and reapplied it to the order.",
)


def day_weights(first_day: dt.date, days: int) -> list[float]:
    """Relative number of answers on each of `days` days from `first_day`.

    A growing business (the last day sees about twice the first day's answers),
    the months' seasons, and quieter weekends.
    """
    weights = []
    for i in range(days):
        day = first_day + dt.timedelta(days=i)
        trend = 0.65 + 0.7 * i / max(days - 1, 1)
        weekend = 0.8 if day.weekday() >= 5 else 1.0
        weights.append(trend * _MONTH_SEASON[day.month - 1] * weekend)
    return weights


def allocate_counts(weights: list[float], count: int) -> list[int]:
    """`count` split in proportion to `weights` (largest remainder): exactly `count` in all."""
    total = sum(weights)
    exact = [count * weight / total for weight in weights]
    quotas = [math.floor(value) for value in exact]
    leftover = count - sum(quotas)
    by_remainder = sorted(range(len(weights)), key=lambda i: exact[i] - quotas[i], reverse=True)
    for i in by_remainder[:leftover]:
        quotas[i] += 1
    return quotas


def tone_weights(stage: str, day: dt.date, days_ago: int) -> tuple[float, float, float]:
    """(positive, neutral, negative) shares for a stage on a day of the story.

    Retention is the weak stage all year and better in the last 30 days;
    purchase dips in the Christmas rush.
    """
    if stage == "retention" and days_ago < _RECENT_DAYS:
        return _RETENTION_RECENT_TONE_WEIGHTS
    if stage == "purchase" and (day.month, day.day) >= _RUSH_START:
        return _RUSH_TONE_WEIGHTS
    return _TONE_WEIGHTS[stage]


def touchpoint_weights(stage: str, tone: str) -> tuple[float, ...]:
    """Where answers of this tone come from within the stage (see ``STAGE_TOUCHPOINTS``)."""
    return _TOUCHPOINT_WEIGHTS[stage][tone]


def rating_table(stage: str, tone: str) -> tuple[tuple[int, float], ...]:
    """((rating, weight), ...) for an answer of this tone at this stage."""
    if stage == "advocacy":
        return _NPS_RATINGS[tone]
    if stage == "retention" and tone == _POSITIVE:
        return _RETENTION_POSITIVE_RATINGS
    return _CSAT_RATINGS[tone]


def comment_pool(per_slot: int = 40, seed: int = 7) -> dict[tuple[str, str, str, bool], list[str]]:
    """Varied comments for every (stage, touchpoint, tone, recent) slot, `per_slot` each.

    A bulk load draws its comments from this pool, so that each distinct
    comment is scored for sentiment once, not once per response. `recent`
    (the last 30 days) only changes retention's comments.
    """
    rng = random.Random(seed)
    pool: dict[tuple[str, str, str, bool], list[str]] = {}
    for stage, touchpoints in STAGE_TOUCHPOINTS.items():
        for touchpoint in touchpoints:
            for tone in _TONES:
                for recent in (False, True):
                    if recent and stage != "retention":
                        pool[(stage, touchpoint, tone, True)] = pool[
                            (stage, touchpoint, tone, False)
                        ]
                        continue
                    pool[(stage, touchpoint, tone, recent)] = [
                        _make_comment(rng, stage, touchpoint, tone, recent=recent)
                        for _ in range(per_slot)
                    ]
    return pool
