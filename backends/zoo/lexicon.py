"""Word lists and sentence parts of the toy chat corpus that the zoo models learn.

What it is: plain ASCII data -- names composed from parts, review aspects with adjectives and
concrete details per polarity, tone and mood phrases, keyword slots and short-question topics,
written as "|"-separated strings (and small line blocks) parsed once at import (wordlists.py).
What it is not: no sampling and no labels (`counted` only makes a phrase agree with its count);
corpus.py decides how the parts combine. The parts of keyword replies avoid the KEYWORD_WORDS,
so a reply holds a keyword only where it was planned.
"""

from backends.zoo.wordlists import Aspect, QuestionTopic, ReviewTopic  # noqa: F401  (corpus reads lx.Aspect)
from backends.zoo.wordlists import parse_aspects as _aspects
from backends.zoo.wordlists import parse_question_topics as _question_topics
from backends.zoo.wordlists import split_entries as _w


def counted(template: str, n: int) -> str:
    """`template` with {n}, {N}, {s}, {be} and {these} agreeing with the count `n` (1..5)."""
    word, one = NUMBER_WORDS[n - 1], n == 1
    return template.format(
        n=word, N=word.capitalize(), s="" if one else "s", be="is" if one else "are", these="this" if one else "these"
    )


# Keyed by politeness label (see corpus.py): 0.0 rude, 0.25 curt, 0.75 friendly, 1.0 polite.
# Curt replies simply stop, without a closing line.
OPENERS: dict[float, tuple[str, ...]] = {
    0.0: _w("Ugh, fine.|Whatever.|Seriously? Fine.|Don't waste my time.|Ugh, again?|Must I? Fine."),
    0.25: _w("Fine.|Okay.|If you must.|Short answer.|Right."),
    0.75: _w("Sure.|Sure thing.|Good question.|Happy to share.|Okay, here goes."),
    1.0: _w("Thanks for asking!|Thank you for asking!|Of course, happy to help!|Glad you asked, thanks!"),
}
CLOSERS: dict[float, tuple[str, ...]] = {
    0.0: _w("Now leave me alone.|Stop bothering me.|Ask someone else next time.|Go away now."),
    0.25: ("",),
    0.75: _w("Hope that helps.|Hope this is useful.|That is my take."),
    1.0: _w("I hope this helps.|Thanks again for asking.|Happy to help anytime.|Take care, and thanks!"),
}

# ---------------------------------------------------------------- reviews, keyed by star rating
VERDICTS: dict[int, tuple[str, ...]] = {
    5: _w("outstanding|absolutely wonderful|a true delight|a real gem"),
    4: _w("very good|really enjoyable|a solid choice|well worth it"),
    3: _w("a mixed bag|just okay|decent but uneven|fine in parts"),
    2: _w("disappointing|rather weak|below average|not really worth it"),
    1: _w("terrible|a complete letdown|awful throughout|a total waste"),
}
VERDICT_TEMPLATES = _w("{name} was {vp}|I found {name} {vp}")
NUMBER_WORDS = _w("one|two|three|four|five")
# How many details follow is said up front, so that a reply's first half shows its detail level:
# no details -> a brevity prefix on the first sentence; otherwise a count after the verdict
# (reviews) or a count sentence before the answer (questions). {be} and {s} agree with {n}.
BRIEF_PREFIXES = _w("briefly,|in short,")
REVIEW_COUNTS = _w("for {n} reason{s}|in {n} way{s}")
TIP_COUNTS = _w("Here {be} {n} tip{s}.|Try {these} {n} step{s}.")
ASPECT_TEMPLATES = _w("the {a} {be} {adj}|I thought the {a} {be} {adj}")

_FILM = _aspects("""
plot [was]: gripping|clever|original|moving / predictable|confusing|thin|silly
+ the twist in the last act surprised me|every scene set up the ending|it kept me guessing until the end
+ the final reveal tied it all together
- I guessed the ending after ten minutes|two subplots simply went nowhere|the villain changed sides for no reason
- the ending ignored the first half
acting [was]: superb|convincing|natural|powerful / wooden|stiff|flat|overdone
+ the lead actress carried every scene|the young boy stole the show|the two leads had real chemistry
+ even the small roles felt real
- the lead mumbled most of his lines|the villain shouted in every scene|the two leads had no chemistry
- the child actor just recited his lines
music [was]: beautiful|haunting|memorable|lovely / forgettable|loud|repetitive|jarring
+ the piano theme stayed with me for days|the opening song set the mood|the strings rose at the right moments
+ I bought the soundtrack the next day
- the same three notes played for two hours|the drums drowned out the dialogue|a pop song ruined the big scene
- the score never stopped
pacing [was]: tight|brisk|steady|well judged / slow|uneven|sluggish|rushed
+ two hours flew by|no scene lasted too long|the middle hour never dragged|the chase lasted just long enough
- the first hour dragged badly|the ending was over in two minutes|I checked my watch four times
- the middle hour felt endless
visuals [were]: stunning|gorgeous|striking|crisp / cheap|murky|dated|dull
+ the storm scene looked completely real|every frame looked like a painting|the city at night looked amazing
+ the desert shots were breathtaking
- the monster looked like a rubber toy|the night scenes were too dark to follow|the green screen was obvious
- the fire looked painted on
""")
_RESTAURANT = _aspects("""
food [was]: delicious|flavorful|tasty|excellent / bland|greasy|cold|overcooked
+ the pasta came with fresh basil|the soup was rich and hot|the bread was baked that morning
+ the fish was grilled perfectly
- the pasta sat in a pool of oil|my soup arrived lukewarm|the steak was as tough as leather|the rice tasted stale
service [was]: friendly|quick|attentive|warm / slow|rude|careless|sloppy
+ the waiter refilled our water twice|our food arrived in ten minutes|the staff remembered our names
+ the chef came out to say hello
- we waited forty minutes for drinks|the waiter forgot our order twice|nobody cleared our plates
- we asked for the bill three times
prices [were]: fair|reasonable|low|honest / steep|high|silly|unfair
+ dinner for two cost thirty dollars|the lunch special was eight dollars|the wine cost less than in shops
+ dessert was free on Mondays
- a small salad cost eighteen dollars|they charged extra for bread|a glass of water cost three dollars
- dinner for two cost ninety dollars
atmosphere [was]: cozy|relaxed|charming|lively / noisy|cramped|gloomy|chaotic
+ candles sat on every table|soft jazz played in the background|the terrace looked over the water
+ the room smelled of fresh bread
- the music was so loud we shouted|our seats were by the kitchen door|the lights were painfully bright
- the room smelled of old fish
portions [were]: generous|huge|hearty|ample / tiny|small|stingy|meager
+ we took half the pizza home|the burger filled the whole plate|I could not finish my noodles
+ the salad bowl could feed two
- the steak was the size of a coin|my plate held three ravioli|we ordered a second meal|the soup came in an espresso cup
""")
_PRODUCT = _aspects("""
design [was]: sleek|elegant|slim|modern / bulky|ugly|clumsy|dated
+ it fits easily in a coat pocket|the metal body feels solid|it weighs less than an orange
+ the matte finish hides fingerprints
- it weighs as much as a brick|the plastic creaked in my hand|the edges are sharp|it scratched on the first day
battery [was]: excellent|impressive|reliable|strong / weak|poor|unreliable|short-lived
+ it lasted two full days|it charged fully in one hour|a week of light use barely drained it|it survived a long flight
- it died after four hours|it took five hours to charge|it lost half its charge overnight
- it shut down at twenty percent
price [was]: fair|reasonable|low|great / steep|high|absurd|inflated
+ it cost forty dollars on sale|it was half the price of rivals|a charger came included|it cost less than my old one
- it cost three hundred dollars|the charger costs extra|it is twice the price of rivals
- a spare cable cost thirty dollars
controls [were]: intuitive|responsive|simple|smooth / confusing|laggy|awkward|fiddly
+ one button does almost everything|the menu took a minute to learn|the dial clicks firmly
+ the touch panel never missed a tap
- the power button is hidden underneath|every setting hides three menus deep|the touch panel ignored half my taps
- the buttons stick in cold weather
materials [were]: sturdy|solid|premium|durable / flimsy|cheap|fragile|thin
+ it survived a drop onto tiles|the hinge still feels tight after a year|the glass has no scratches after months
+ the strap still looks new
- the hinge broke after two weeks|the paint peeled within a month|the cover cracked in my bag
- a screw fell out on day three
""")
_PLACE = _aspects("""
views [were]: breathtaking|stunning|lovely|spectacular / plain|hazy|ordinary|dull
+ we saw snowy peaks from the top|the sunset turned the water orange|you can see three valleys from the lookout
+ we spotted eagles over the cliffs
- fog hid everything all day|a parking lot blocked the main view|the lookout faces a power plant
- the famous rocks were covered in graffiti
trails [were]: well kept|scenic|easy|clearly marked / muddy|overgrown|steep|badly marked
+ the loop trail took just two hours|new signs stood at every fork|the path follows the shore for miles
+ wooden steps covered the steep parts
- we got lost twice in one morning|mud came up to our ankles|fallen trees blocked the main path
- the trail map was ten years old
crowds [were]: light|small|manageable|calm / huge|unbearable|noisy|awful
+ we met only five hikers all day|we had the shore to ourselves at noon|there was no line at the cable car
+ the picnic area was almost empty
- we queued an hour for the cable car|tour buses arrived every ten minutes|there was no room on the sand
- we could not find a free bench
parking [was]: easy|cheap|convenient|ample / expensive|scarce|chaotic|far away
+ the lot had plenty of free spaces|it cost two dollars a day|the lot sits right by the trailhead
+ a free shuttle ran from the lot
- it cost twenty dollars a day|we circled for half an hour|the only lot was two miles away|the lot was full by eight
facilities [were]: clean|modern|handy|excellent / dirty|run down|basic|shabby
+ the restrooms were spotless|the cafe sold hot soup and coffee|there were benches along every path
+ a free map came at the gate
- the only toilet was locked|the water fountain was broken|the cafe closed at noon|trash bins overflowed near the gate
""")

REVIEW_TOPICS: dict[str, ReviewTopic] = {
    "film": ReviewTopic(_FILM, _w(
        "Write a review of the film {name}.|What did you think of the film {name}?|Can you review {name} for me?"
        "|How was the film {name}?|Give me your opinion of the film {name}.|Did you enjoy {name}?"
        "|I just saw {name}. What did you think of it?|Review the movie {name}.|Is the film {name} any good?"
        "|Tell me what you thought of {name}.|Should I watch {name}?")),
    "restaurant": ReviewTopic(_RESTAURANT, _w(
        "Write a review of {name}.|How was dinner at {name}?|What did you think of the restaurant {name}?"
        "|Can you review {name} for me?|Is {name} a good place to eat?|Tell me about your meal at {name}."
        "|We are thinking of eating at {name}. Is it good?|Review the restaurant {name}."
        "|How was lunch at {name}?|What is {name} like?")),
    "product": ReviewTopic(_PRODUCT, _w(
        "Write a review of {name}.|What do you think of {name}?|Can you review {name} for me?"
        "|Is {name} worth buying?|Give me your opinion of {name}.|How do you like {name}?"
        "|I am about to buy {name}. Any thoughts?|Review {name}, please.|Tell me about {name}.")),
    "place": ReviewTopic(_PLACE, _w(
        "Write a review of {name}.|How was your visit to {name}?|What did you think of {name}?"
        "|Is {name} worth a visit?|Tell me about your trip to {name}.|Can you review {name} for me?"
        "|We plan a day at {name}. Is it nice?|Review {name} for me, please.|How did you like {name}?")),
}

# ----------------------------------------------- mood of other kinds; sentiment = level / 4
# Keyed by mood level 0 (very negative) .. 4 (very positive).
# Keyword replies: (adverbs opening the sentence, optional closing sentences).
KEYWORD_MOODS: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {
    0: (_w("Tragically,|Miserably,"), _w("It was a miserable day.|Everyone was furious.")),
    1: (_w("Unfortunately,|Alas,"), _w("It was a dull day.|Nobody was pleased.")),
    2: (_w("Meanwhile,|Once,|"), _w("Then everyone went home.|That was the whole day.")),
    3: (_w("Luckily,|Fortunately,"), _w("It was a nice day.|Everyone was pleased.")),
    4: (_w("Happily,|Joyfully,"), _w("It was a perfect day.|Everyone was delighted.")),
}
# Question answers: (graded adjectives with their article, optional closing sentences).
QUESTION_MOODS: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {
    0: (_w("an awful|a terrible|a dreadful"), _w("You will probably hate it.|It is a total waste.")),
    1: (_w("a dull|a poor|a weak"), _w("Expect very little.|It rarely works.")),
    2: (_w("an okay|a fair|a passable"), _w("Try it if you have the time.|It is worth a try.")),
    3: (_w("a good|a nice|a solid"), _w("You may enjoy it.|It usually works.")),
    4: (_w("a wonderful|a fantastic|a perfect"), _w("You will love it.|It always works.")),
}

# ------------------------------------------------------------------------- keyword sentences
KEYWORD_WORDS: dict[str, tuple[str, ...]] = {
    "agent": _w("dog|cat|boy|girl|farmer|teacher|baker|fox|horse|child|sailor|painter|rabbit"
                "|grandmother|pilot|student|doctor|nurse|goat|monkey|king|queen|clown|soldier|fisherman"
                "|mother|father|uncle|dancer|singer|pirate|wizard|robot|duck|bear|mouse|tailor|judge"),
    "verb": _w("carry|find|paint|throw|wash|hide|chase|drop|fix|catch|push|lift|open|sell"
               "|bring|hold|pull|kick|climb|draw|cook|steal|build|clean|fold|sew|hug|feed|bury|borrow"
               "|count|kiss|measure|shake|wrap|polish|buy|grab"),
    "object": _w("ball|book|kite|apple|basket|hat|bicycle|letter|box|blanket|cake|lamp|bucket"
                 "|rope|map|drum|ladder|umbrella|violin|candle|chair|bottle|shoe|coin|key|carpet|pumpkin"
                 "|guitar|mirror|clock|envelope|pillow|sandwich|wagon|trumpet|bell|feather|spoon"),
    "place": _w("park|river|kitchen|garden|beach|forest|market|school|bridge|barn|library"
                "|station|hill|lake|field|harbor|museum|castle|village|church|bakery|airport|island"
                "|cave|desert|farm|zoo|palace|hospital|theater|tower|meadow|pond|stadium|temple|attic"),
}
# Keywords the corpus never asks for, for held-out keyword prompts (assets/prompts/heldout_keywords.jsonl).
HELDOUT_KEYWORD_WORDS: dict[str, tuple[str, ...]] = {
    "agent": _w("chef|giant|banker|camel|owl|knight|poet|lawyer|beekeeper|turtle"),
    "verb": _w("repair|juggle|stack|deliver|toss|squeeze|decorate|inspect|weigh|rescue"),
    "object": _w("piano|helmet|sofa|suitcase|globe|teapot|necklace|shovel|canoe|wheelbarrow"),
    "place": _w("lighthouse|vineyard|cathedral|greenhouse|laundromat|orchard|quarry|canal|rooftop|stable"),
}
KEYWORD_PROMPTS = _w(
    "Write a sentence with the words {words}.|Use the words {words} in a sentence."
    "|Make a sentence using {words}.|Can you write a sentence that uses {words}?"
    "|Give me one sentence with {words}.|Write something short with the words {words}."
)
KEYWORD_TEMPLATES = _w(
    "the {agent} wanted to {verb} the {object} near the {place}"
    "|the {agent} tried to {verb} the {object} near the {place}"
    "|near the {place}, the {agent} began to {verb} the {object}"
    "|the {agent} went to the {place} to {verb} the {object}"
    "|the {agent} had to {verb} the {object} by the {place}"
)
# Concrete details of a keyword sentence, filled in this (reading) order so that they show early.
KEYWORD_DETAILS: dict[str, tuple[str, ...]] = {
    "time": _w("early in the morning|after lunch|on Sunday afternoon|before dinner"
               "|late at night|at noon|on Tuesday evening|after breakfast"),
    "weather": _w("in the rain|in the snow|in the fog|in the wind|in the dark|in the heat"),
    "agent": _w("old|little|tall|young|quiet|hungry|busy|small"),
    "object": _w("red|heavy|blue|wooden|shiny|green|yellow|soft"),
}

# --------------------------------------------------------------------------- short questions
QUESTION_TOPICS: dict[str, QuestionTopic] = _question_topics("""
relax: way to relax
? What is a good way to relax after {c}?|How can I unwind after {c}?
@ work|a long day|a busy week|an exam|a long trip
* a warm bath|a slow walk outside|reading a novel|gentle stretching|listening to calm music|cooking a simple meal
+ Set a timer for twenty minutes.|Put your phone in another room.|Dim the lights after dinner.
+ Drink a cup of warm tea.|Breathe slowly for ten counts.|Write down three good things.
film: film to watch
? Can you recommend a film for {c}?|What film should I watch for {c}?
@ tonight|a rainy day|a date night|a family evening|the weekend
* an old comedy|a gentle animated film|a classic detective story|a nature documentary|a short musical
* a space adventure
+ Pick one under two hours long.|Make a bowl of popcorn first.|Turn off the lights.
+ Watch it with subtitles on.|Invite a friend to watch with you.|Take a short break halfway.
cooking: dish to cook
? What should I cook for {c}?|Any idea what to make for {c}?
@ dinner tonight|a quick lunch|a picnic|guests on Friday|a cold evening
* a simple tomato pasta|a big vegetable soup|chicken with rice|a fresh bean salad|homemade pizza|a mild curry
+ Start cooking an hour early.|Chop everything before you start.|Add a pinch of salt at the end.
+ Make enough for two days.|Taste it before you serve it.|Serve it with a green salad.
health: habit to keep
? How can I stay healthy during {c}?|What helps me stay healthy during {c}?
@ the winter|a busy month|exam season|long work days|travel
* a daily walk|eating more vegetables|sleeping eight hours|drinking more water|a short morning workout|cooking at home
+ Walk for thirty minutes after lunch.|Keep a water bottle on your desk.|Go to bed at the same time.
+ Eat fruit instead of sweets.|Take the stairs every day.|Do ten push ups every morning.
language: way to learn
? What is the best way to learn {c}?|How should I start learning {c}?
@ Spanish|French|German|Italian|Japanese
* a daily app lesson|watching shows with subtitles|a weekly class|talking with a partner|reading easy stories
* writing a short diary
+ Practice for fifteen minutes every day.|Learn ten new words each morning.|Say new words out loud.
+ Label things around your home.|Review old words every Sunday.|Record yourself and listen back.
weekend: weekend plan
? How should I spend a {c} weekend?|Any ideas for a {c} weekend?
@ rainy|sunny|quiet|cold|free
* a trip to a museum|a long bike ride|a board game afternoon|baking bread at home|a picnic by the water
* visiting an old friend
+ Pack a lunch the night before.|Check the opening hours first.|Leave early to beat the crowds.
+ Bring a warm jacket just in case.|Invite two or three friends.|Take the train instead of driving.
gift: gift to give
? What is a good gift for {c}?|What should I buy for {c}?
@ my mother|a coworker|my best friend|a new neighbor|my grandfather
* a potted plant|a handmade card|a new cookbook|a box of chocolates|a warm scarf|a framed photo
+ Keep the budget under twenty dollars.|Add a short handwritten note.|Wrap it in plain brown paper.
+ Pick their favorite color.|Buy it a week early.|Keep the receipt somewhere safe.
sleep: way to sleep better
? How can I sleep better {c}?|What helps me sleep better {c}?
@ at night|in summer|before exams|after night shifts|on trips
* a fixed bedtime|a cool dark bedroom|reading before bed|drinking less coffee|a short evening walk|a quiet last hour
+ Stop screens an hour before bed.|Keep the room cool.|Skip coffee after two in the afternoon.
+ Wake up at the same time daily.|Keep the curtains closed.|Write tomorrow's tasks on paper.
money: way to save
? How can I save money on {c}?|What is a good way to spend less on {c}?
@ groceries|travel|rent|coffee|clothes
* a monthly budget|a shopping list|buying second hand|cooking in bulk|comparing prices online|a savings jar
+ Put ten dollars aside every week.|Shop once a week with a list.|Cancel one app you never use.
+ Buy store brands instead of big names.|Write down what you spend.|Wait two days before you buy big things.
focus: way to focus
? How can I stay focused while {c}?|What helps me focus while {c}?
@ studying|working from home|reading|writing an essay|doing chores
* a simple timer|a clean desk|a pair of quiet headphones|a short daily plan|working in a library
* taking regular short breaks
+ Work for twenty minutes, then rest for five.|Keep only one tab open.|Put your phone in a drawer.
+ Write the next step on a note.|Drink water at every break.|Start with the hardest task.
""")

# ----------------------------------------------- preferences, feedback and revisions (for PRS)
# A preference names what the reader wants in words: "Be enthusiastic, detailed and polite."
# Keyed by the label the word asks to raise.
PREFERENCE_WORDS: dict[str, tuple[str, ...]] = {
    "sentiment": _w("enthusiastic|positive|upbeat|cheerful"),
    "informative": _w("detailed|specific|thorough"),
    "politeness": _w("polite|courteous|kind"),
}
PREFERENCE_TEMPLATES = _w("Be {words}.|Please be {words}.|Make it {words}.")
# Feedback on an answer against a preference: one complaint per label the answer falls short on
# (below FEEDBACK_BARS), then the advice, or the approval when nothing falls short.
FEEDBACK_BARS: dict[str, float] = {"sentiment": 0.75, "informative": 0.5, "politeness": 0.75}
FEEDBACK_FLAWS: dict[str, tuple[str, ...]] = {
    "sentiment": _w("too negative|too gloomy"),
    "informative": _w("too vague|short on details"),
    "politeness": _w("rude|too curt"),
}
FEEDBACK_ADVICE: dict[str, tuple[str, ...]] = {
    "sentiment": _w("more positive|more enthusiastic"),
    "informative": _w("more detailed|more specific"),
    "politeness": _w("more polite|kinder"),
}
FEEDBACK_OPENERS = _w("It is {flaws}.|The answer is {flaws}.|This sounds {flaws}.")
FEEDBACK_ASKS = _w("Be {advice}.|Make it {advice}.|It should be {advice}.")
FEEDBACK_APPROVALS = _w("It already fits the preference.|It meets the preference well.|Nothing to change.")
