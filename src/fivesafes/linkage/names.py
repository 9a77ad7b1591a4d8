"""Names for synthetic identities (:mod:`fivesafes.linkage.synth`), and how often each is
drawn: lists written for this project, not copied from any register or census.

Each list is ranked, commonest first: names common in England (the head, in the order written
below), then rarer names written here (given names of the older cohorts and of families from
elsewhere; English, Welsh, Scottish, Irish, South Asian, Polish, West African and East Asian
family names), then a long tail *composed* from English-looking elements: family names from
place and trade elements (``ASH`` + ``WORTH``, ``BLACK`` + ``MORE``), given names from a stem and
an ending (``ED`` + ``MUND``, ``ROS`` + ``ETTA``). The order of the rarer and composed names is
fixed by a hash of each name, so their rank says nothing of their letters. A name's share of
people falls with its rank as ``1 / (rank + OFFSET) ** POWER`` (a Zipf-Mandelbrot law: a
flatter head than Zipf's, then a long tail):

- family names (13,635; ``1 / (rank + 5) ** 0.8``): the commonest, SMITH, 0.9% of people; the
  ten commonest 6%; the 200 commonest 28%; the 1,000 commonest 49%, so half of people carry a
  name outside the commonest 1,000 or so;
- given names (about 1,550 for each sex; ``1 / (rank + 5)``): more concentrated: the
  commonest 3% of its sex, the 100 commonest 52%, the 500 commonest 80%.

This is an approximation of the shape published counts of surnames in England and Wales show
in outline (tens of thousands of surnames; Smith, the commonest, about 1% of people; the few
hundred commonest covering a minority; about half of people outside the commonest thousand or
two; given names fewer and more concentrated, in their thousands across birth cohorts), not a
census table: the figures above are this law's, not measured frequencies of real names, and
the law was chosen for that outline, not to make linkage easier or harder. Life has more
family names than this list (its rarest are rarer), which matters little among the thousands
of persons of a synthetic hospital; given names are drawn whatever the year of birth, whereas
in life each birth cohort has its own fashions, so persons born in the same year share a given
name more often than here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

_FEMALE = """
    Olivia Amelia Isla Ava Mia Ivy Lily Isabella Rosie Sophia Grace Freya Willow Florence
    Emily Ella Poppy Evie Elsie Charlotte Evelyn Sienna Sofia Daisy Phoebe Sophie Alice
    Harper Matilda Ruby Emilia Maya Millie Isabelle Esme Eva Luna Jessica Margaret Susan
    Patricia Linda Barbara Elizabeth Jennifer Mary Sarah Karen Helen Janet Julie Joan
    Dorothy Jean Christine Ann Anne Pauline Sandra Gillian Angela Deborah Joanne Rachel
    Claire Nicola Emma Laura Amy Hannah Rebecca Zara Aisha Fatima Priya Anjali Mariam Noor
    Chloe Megan Lucy
"""
_MALE = """
    Oliver George Noah Arthur Muhammad Leo Harry Oscar Archie Henry Theodore Freddie Jack
    Charlie Theo Alfie Jacob Thomas Finley Arlo William Lucas Roman Tommy Isaac Teddy
    Alexander Luca Edward James Joshua Albie Elijah Max Mohammed Reggie Hudson Ronnie Louie
    Sebastian John David Michael Peter Robert Paul Richard Stephen Andrew Mark Christopher
    Anthony Brian Kevin Gary Ian Alan Colin Keith Graham Neil Simon Martin Daniel Matthew
    Adam Samuel Ryan Ali Omar Hassan Raj Arjun Sanjay Kwame Tomasz Piotr Connor Liam Callum
    Owen
"""
_FAMILY = """
    Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans
    Walker White Roberts Green Hall Wood Jackson Clarke Patel Khan Lewis James Phillips
    Mason Mitchell Rose Davis Rodriguez Cox Alexander Morris Turner Ward Watson Harris
    Martin Cooper Hill Moore Clark King Baker Harrison Morgan Allen Young Scott Edwards
    Hughes Lee Shaw Thomas Anderson Bell Murphy Parker Price Griffiths Bennett Carter Kelly
    Richardson Cook Marshall Collins Bailey Chapman Webb Rogers Gray Lloyd Mills Hunt Palmer
    Holmes Knight Butler Barnes Fisher Henderson Russell Stevens Kaur Singh Ahmed Ali
    Hussain Begum Rahman Shah Akhtar Chowdhury Iqbal Nowak Kowalski Wisniewski Okafor Mensah
    Adeyemi O'Brien O'Connor McDonald MacLeod Campbell Stewart Robertson Reid Murray Fraser
    Ross Graham Hamilton Ferguson Black Gibson Kennedy Wallace Hunter Paterson Johnston
    Duncan Hart Ellis Day Fox Saunders Dixon Pearce Burton Stone Lane Rees Francis Powell
    Jenkins Hudson Spencer Gardner Lawrence Hayes Payne Pearson Matthews Cole Brooks Wells
    Berry Dean Holland Barker Harvey Sutton Watts Kemp Armstrong Byrne Cunningham Doyle
    Flynn
"""
_RARER_FEMALE = """
    Abigail Ada Adele Agnes Aileen Alexandra Alison Alma Amber Anita Annabel Annette Antonia
    April Ariana Astrid Audrey Aurora Ayesha Beatrice Belinda Bernadette Beryl Bethan
    Beverley Bonnie Brenda Bridget Bronwen Caitlin Camilla Candice Carla Carmen Carol
    Caroline Cassandra Catherine Cecilia Celia Ceri Charlene Cheryl Clara Clementine
    Constance Cora Cynthia Dana Danielle Darcey Dawn Delia Denise Diana Dilys Dolores Donna
    Doreen Edith Eileen Elaine Eleanor Elena Eliza Ellen Eloise Elspeth Enid Erin Esther
    Ethel Eunice Fiona Frances Freda Gemma Georgia Geraldine Gladys Glenda Gloria Gwen
    Gwendolyn Hazel Heather Heidi Henrietta Hilary Hilda Holly Imogen Ingrid Irene Iris
    Isobel Jacqueline Jade Jane Janice Jasmine Jemima Jenna Jill Joanna Jocelyn Josephine
    Joy Joyce Judith Juliet June Justine Kathleen Kayleigh Keira Kerry Kirsty Lauren Leah
    Leanne Lesley Lilian Lindsay Lois Lorna Lorraine Louisa Lydia Lynne Mabel Madeleine
    Maisie Marian Marilyn Marjorie Martha Maureen Mavis Maxine Melanie Mildred Miranda Moira
    Molly Monica Muriel Nadia Naomi Natalie Nia Nora Norma Olwen Pamela Paula Pearl Penelope
    Philippa Pippa Polly Rhian Rhiannon Rita Roberta Rosalind Rosemary Rowena Sabrina
    Samantha Shirley Siobhan Stella Sylvia Tamsin Tanya Teresa Thelma Tracey Una Valerie
    Vanessa Vera Veronica Violet Vivienne Wendy Yvonne Zoe Amina Anaya Asma Bushra Deepa
    Farah Hafsa Halima Kavita Khadija Lakshmi Leila Meera Nasreen Neha Nisha Parveen Rani
    Rukhsana Sadia Safiya Salma Samira Shabnam Sunita Yasmin Zainab Agnieszka Anna Ewa
    Katarzyna Magdalena Marta Monika Zofia Abena Ama Chiamaka Folake Ngozi Nkechi Temitope
    Yetunde Ifeoma Aoife Niamh Roisin Saoirse Sinead Mairead Eilidh Morag Catriona Mei Xin
    Hui Ying Mai Hoa
"""
_RARER_MALE = """
    Aaron Abdul Adrian Aidan Alastair Albert Alec Alfred Alistair Ambrose Angus Archibald
    Arnold Ashley Austin Barry Basil Benedict Benjamin Bernard Billy Bradley Brendan Bruce
    Byron Calum Cameron Carl Cecil Cedric Clifford Clive Conor Craig Cyril Damian Dale
    Darren Dean Declan Dennis Derek Desmond Dominic Donald Douglas Duncan Dylan Eamon Edgar
    Edmund Edwin Elliot Emlyn Eric Ernest Eugene Evan Ewan Felix Fergus Francis Frank
    Frederick Gareth Gavin Geoffrey Gerald Gerard Gilbert Glyn Gordon Gregory Guy Gwilym
    Hamish Harold Harvey Hector Herbert Howard Hugh Hugo Huw Iain Ieuan Ivor Jake Jamie
    Jason Jasper Jeremy Jerome Jesse Joel Jonathan Jordan Joseph Julian Justin Karl Kenneth
    Kieran Laurence Lawrence Lee Leonard Leslie Lewis Lloyd Luke Malcolm Marcus Maurice
    Melvyn Miles Morgan Murray Nathan Nicholas Nigel Norman Patrick Percy Philip Quentin
    Ralph Raymond Reginald Rhys Rodney Roger Ronald Rory Ross Rupert Russell Scott Sean Seth
    Shane Sidney Spencer Stanley Stuart Terence Timothy Toby Trevor Tristan Troy Vernon
    Victor Vincent Walter Warren Wayne Wilfred Xavier Abdullah Adnan Ahmed Akash Amir Anil
    Asif Bilal Deepak Faisal Farhan Hamza Haroon Ibrahim Imran Irfan Ismail Jamal Kamran
    Karim Mahmood Mustafa Naveed Nikhil Pradeep Rahul Rashid Ravi Rohan Salman Sameer Shahid
    Suleiman Tariq Usman Vikram Yusuf Zain Bartosz Jakub Krzysztof Lukasz Marek Michal Pawel
    Wojciech Adebayo Chidi Emeka Femi Kofi Kwabena Olu Oluwaseun Tunde Yaw Ciaran Cormac
    Dermot Eoin Fionn Niall Oisin Padraig Seamus Wei Jun Hao Ming Minh Tuan
"""
_RARER_FAMILY = """
    Abbott Ackroyd Ainsworth Aldridge Allsop Appleby Arkwright Atkinson Bagshaw Bainbridge
    Barlow Barrett Bateman Baxter Beckett Bentley Birch Blackburn Bolton Booth Bradshaw
    Brennan Briggs Broadbent Buckley Bullock Burgess Burrows Butterworth Cartwright
    Catterall Chadwick Chamberlain Charlton Clegg Clough Coates Cockburn Crabtree Crossley
    Crowther Dawson Dickinson Dobson Duckworth Earnshaw Entwistle Fairclough Farrar Fawcett
    Fenwick Fletcher Foster Garside Gledhill Greenhalgh Hadfield Haigh Halliwell Hardcastle
    Hargreaves Hartley Haworth Heald Hepworth Hibbert Hinchliffe Holroyd Horsfall Hoyle
    Hutchinson Illingworth Ingham Jagger Kershaw Kitchen Lancaster Leadbetter Marsden
    Mellor Metcalfe Midgley Nuttall Ormerod Pickles Platt Pilling Priestley Ramsden
    Rawlinson Redfern Rhodes Ridley Rowbotham Schofield Shackleton Sharples Shepherd
    Sidebottom Slater Stansfield Sugden Sutcliffe Swindells Tattersall Thackeray Tindall
    Townend Utley Varley Wadsworth Wainwright Walmsley Whitehead Wilkinson Wolstenholme
    Yates Adams Archer Atkins Austin Ball Banks Barber Barton Bates Bird Bishop Blake Bond
    Bowen Boyle Bradley Bryant Burke Burns Bush Cameron Carr Chambers Coleman Connolly
    Conway Curtis Daniels Dennis Dickson Dunn Elliott Farmer Fleming Fowler Frost Fuller
    Garner Gordon Gough Grant Griffin Hale Hammond Hancock Hanson Hardy Hawkins Haynes Hicks
    Higgins Hobbs Holden Hooper Hopkins Horton Howard Howe Humphreys Jarvis Jennings Jordan
    Kay Keane Kerr Kirby Lamb Law Lawson Lowe Lucas Lynch Mann Miles Miller Moss Newman
    Nicholls Norris Owen Page Parry Parsons Perkins Perry Pope Porter Potter Pritchard
    Quinn Read Reynolds Rice Riley Rowe Sharp Simpson Skinner Steele Stephenson Swift Tucker
    Vaughan Wade Walsh Warren Waters Webster Wheeler Wild Woods Wyatt Ahmad Akram Anwar
    Arshad Aziz Bashir Bibi Choudhry Hassan Haq Hossain Islam Javed Karim Latif Mahmood
    Malik Mirza Miah Mohammed Nawaz Qureshi Rashid Raza Riaz Saleem Sheikh Siddiqui Yousaf
    Zaman Bhatt Chauhan Desai Gill Gupta Joshi Kapoor Kumar Mehta Mistry Parmar Rana Sandhu
    Sharma Sidhu Solanki Thakur Virdi Chen Cheung Huang Lam Li Liu Lin Ng Tan Wang Wong Wu
    Yang Zhang Zhou Nguyen Tran Pham Le Kowalczyk Lewandowski Wojcik Kaminski Zielinski
    Szymanski Dabrowski Kozlowski Mazur Krawczyk Adebayo Afolabi Agyeman Appiah Asante
    Boateng Danso Eze Nwosu Obi Ogunleye Okeke Okonkwo Owusu Osei Adeleke Yeboah Silva
    Santos Pereira Costa Ferreira Rossi Russo Bianchi Romano Esposito Ryan Brady Gallagher
    Duffy Doherty Nolan Kavanagh Fitzgerald McCarthy McLaughlin Mackenzie McGregor Sinclair
    Baird Boyd Buchanan Crawford Douglas Drummond Forbes Hay Lindsay Munro Ogilvie Rankin
    Sutherland Watt
"""
# Elements of the composed tail: family names from places and trades; given names from a
# stem and an ending.
_PLACES = """
    Ald Alder Apple Arn Ash Ax Back Bag Bar Barn Beck Bed Bell Ben Berk Bick Bill Birch
    Birk Black Blen Bol Booth Bos Brad Bram Bran Bray Brent Brid Bright Broad Brock Brom
    Brook Brough Buck Bur Burn Bush Cal Cam Can Car Cart Chad Chal Char Chat Ches Chil
    Church Clay Clif Cob Cold Col Comp Crab Cran Crom Cross Dal Dar Daw Den Der Dew Dod Down
    Drake Dray Dun Dur East Eb Ed Elm Els Ever Ex Fair Far Farn Fen Fern Fin Fish Fox Frank
    Fry Gar Gat Gil Glad Glen Gold Good Gos Grant Grave Green Grim Gun Hack Had Hal Ham Han
    Har Hart Has Hat Haw Hay Hazel Heath Hed Hen Her Hew High Hind Hol Holl Holt Hope Horn
    How Hud Hum Hunt Ing Kel Ken Kent Kil King Kirk Knap Lam Lang Lath Law Lea Led Lid Lin
    Lock Long Lox Lud Lyn Mal Man Mar Marsh Mel Mer Mid Mill Moor Mor Mos Nash Nether New
    Nor North Nut Oak Old Orm Os Ot Over Pad Pem Pen Pick Pit Plum Pol Pres Rad Ram Rav Red
    Ridge Ring Rip Rock Rom Rose Roth Row Rud Rush Ry Sal Sand Sax Scar Sel Shel Sher Shep
    Shir Sid Skel Slat Small South Spen Spring Stan Star Stock Stone Strat Stur Sud Sum Sun
    Swin Tam Tan Tat Tem Thorn Thur Tod Tor Tot Town Tre Tun Twy Under Up Wad Wake Wal War
    Wat Wel Wend West Wey Whit White Wick Wil Win Wind Wood Wool Wray Wy Yar
"""
_ENDINGS = """
    worth more ley ton by ford field well wood dale croft hurst ham stead thorpe wick cott
    den land bridge brook combe shaw hall man er ridge ington stone bury gate side low holme
    ett ock ing cliffe hill mere ey ow ick moor ward smith wright ster son kin lock
"""
_FEMALE_STEMS = """
    Ad Al Am An Ar Bel Bri Cal Car Cass Cel Clar Cor Dar Del El Em Ev Flor Gem Gen Har Hel
    Il Is Jan Jess Jo Jos Jul Kat Kel Lar Lau Lil Lor Lou Luc Mad Mar Mel Mir Nat Nel Nor
    Ol Pen Ros Sab Sel Ser Syl Tam Tes Val Vi Win Yas Zel
"""
_FEMALE_ENDINGS = """
    a ia ie ina ine ette ella elle anne anna ey ise yn wen ora inda etta issa ara elia ona
"""
_MALE_STEMS = """
    Al Ald Ar Bar Ben Bert Bran Cal Car Ced Con Dar Del Der Dun Ed El Er Fer Gar Ged Gil
    God Har Her Hum Jar Jas Ken Lan Len Lew Mal Mar Mor Nor Os Per Ral Ray Reg Rod Ron Row
    Sel Sid Stan Tor Tris Ul Val Wal Wil Win Wyn
"""
_MALE_ENDINGS = """
    ric win mund ald bert ton ley an en us o ie ard old ford wyn ian iel ick by rick don el
"""

OFFSET_FAMILY, POWER_FAMILY = 5.0, 0.8
OFFSET_GIVEN, POWER_GIVEN = 5.0, 1.0


def _join(first: str, second: str) -> str:
    """``first`` + ``second``, a letter written twice where they meet written once
    (``ASH`` + ``HURST`` -> ``ASHURST``)."""
    if first[-1].lower() == second[0].lower():
        first = first[:-1]
    return first + second.lower()


def _by_hash(names: list[str]) -> list[str]:
    return sorted(names, key=lambda n: hashlib.sha256(n.encode()).digest())


def _ranked(head: str, rarer: str, stems: str, endings: str) -> tuple[str, ...]:
    """The head as written; the rarer names, then the composed ones, each in hash order; every
    name once (its first place)."""
    composed = [_join(s, e) for s in stems.split() for e in endings.split()]
    names = [*head.split(), *_by_hash(rarer.split()), *_by_hash(composed)]
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class Ranked:
    """Names, commonest first, drawn with shares ``1 / (rank + offset) ** power``."""

    names: tuple[str, ...]
    offset: float
    power: float
    cumulative: np.ndarray = field(init=False, repr=False, compare=False)  # shares summed

    def __post_init__(self) -> None:
        shares = 1.0 / (np.arange(1, len(self.names) + 1) + self.offset) ** self.power
        object.__setattr__(self, "cumulative", np.cumsum(shares / shares.sum()))

    def draw(self, rng: np.random.Generator) -> str:
        """One name, as often as its share says (one uniform number of ``rng``)."""
        place = int(np.searchsorted(self.cumulative, rng.random(), side="right"))
        return self.names[min(place, len(self.names) - 1)]


FEMALE = Ranked(
    _ranked(_FEMALE, _RARER_FEMALE, _FEMALE_STEMS, _FEMALE_ENDINGS), OFFSET_GIVEN, POWER_GIVEN
)
MALE = Ranked(_ranked(_MALE, _RARER_MALE, _MALE_STEMS, _MALE_ENDINGS), OFFSET_GIVEN, POWER_GIVEN)
FAMILY = Ranked(_ranked(_FAMILY, _RARER_FAMILY, _PLACES, _ENDINGS), OFFSET_FAMILY, POWER_FAMILY)

_AREAS = """
    AL B BA BB BD BH BL BN BR BS CB CF CH CM CO CR CT CV CW DA DE DH DL DN DT DY E EC EN EX
    GL GU HA HD HG HP HR HU HX IG IP KT L LA LE LN LS LU M ME MK N NE NG NN NR NW OL OX PE
    PL PO PR RG RH RM S SE SG SK SL SM SN SO SP SR SS ST SW SY TA TF TN TQ TR TS TW UB W WA
    WD WF WN WR WS WV YO
"""
AREAS = _AREAS.split()
"""Postcode areas of England (the letters that start an outward code)."""
