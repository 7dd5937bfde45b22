"""Name pools for the fictional borough: common given names and surnames of the communities
of an English Midlands town, combined at random so that nobody in the demo is a real person.
"""

from dataclasses import dataclass

from contexts.young_people.models import Ethnicity


@dataclass(frozen=True, slots=True)
class Heritage:
    """A family background: where names come from and the ONS groups it is usually recorded as."""

    weight: int
    female: tuple[str, ...]
    male: tuple[str, ...]
    family: tuple[str, ...]
    ethnicities: tuple[tuple[Ethnicity, int], ...]


def _split(names: str) -> tuple[str, ...]:
    """Names separated by spaces."""
    return tuple(names.split())


HERITAGES: tuple[Heritage, ...] = (
    Heritage(
        weight=52,
        female=_split(
            "Olivia Amelia Isla Ava Mia Ivy Lily Isabella Rosie Sophia Grace Freya Evie Poppy Ella Daisy "
            "Millie Ruby Phoebe Chloe Holly Megan Erin Abigail Maisie Libby Lacey Skye Jessica Harriet "
            "Eleanor Bethany Paige Courtney Kayleigh Leah Jade Amber Summer Scarlett Willow Esme Lexi"
        ),
        male=_split(
            "Oliver George Harry Noah Jack Leo Arthur Charlie Oscar Jacob Thomas Alfie Freddie James William "
            "Joshua Henry Archie Theo Max Ethan Mason Riley Logan Kai Tyler Callum Kieran Connor Lewis Jake "
            "Liam Ryan Bradley Jordan Reece Dylan Harvey Tommy Ollie Finley Louie"
        ),
        family=_split(
            "Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans Walker "
            "White Roberts Green Hall Wood Jackson Clarke Harris Lewis Turner Hill Cooper Ward Morris Moore "
            "King Watson Baker Harrison Morgan Young Allen Mitchell Bell Marshall Bailey Parker "
            "Cartwright Fletcher Holloway Pritchard Bagley Whitehouse Hadley Brookes Tranter Dudley Oakes "
            "Cotterill Hickman Bennett Pearson Stokes Lowe Perks Hancox Dunn Gibbs Barnes Hough Lloyd"
        ),
        ethnicities=((Ethnicity.WHITE_BRITISH, 95), (Ethnicity.WHITE_OTHER, 3), (Ethnicity.MIXED_OTHER, 2)),
    ),
    Heritage(
        weight=4,
        female=_split("Aoife Niamh Siobhan Ciara Orla Saoirse Roisin Caoimhe Aisling Sinead Maeve Clodagh"),
        male=_split("Cian Conor Oisin Padraig Sean Darragh Eoin Ciaran Fionn Ronan Declan Tadhg"),
        family=_split(
            "Murphy Kelly Byrne Ryan OConnell Walsh Doyle McCarthy Gallagher Doherty Kennedy Lynch Quinn "
            "Brennan Flanagan Nolan Regan Farrell"
        ),
        ethnicities=((Ethnicity.WHITE_IRISH, 90), (Ethnicity.WHITE_BRITISH, 10)),
    ),
    Heritage(
        weight=9,
        female=_split(
            "Priya Anika Simran Jasleen Harleen Navneet Kiran Aashi Riya Diya Ishani Manpreet Amrit Sanjana "
            "Kavya Nisha Tara Meera Anaya Gurleen"
        ),
        male=_split(
            "Arjun Rohan Harjit Jaskaran Gurpreet Aarav Vihaan Karan Rajveer Dev Sukhdeep Jasdeep Amarjit "
            "Nikhil Rahul Aryan Ishaan Ravi Kabir Tejas"
        ),
        family=_split(
            "Patel Sharma Singh Kaur Sandhu Gill Dhillon Bains Sahota Atwal Mistry Chauhan Parmar Joshi "
            "Mehta Shah Kumar Virdi Johal Bassi Rai Lall"
        ),
        ethnicities=(
            (Ethnicity.ASIAN_INDIAN, 92),
            (Ethnicity.ASIAN_OTHER, 5),
            (Ethnicity.MIXED_WHITE_ASIAN, 3),
        ),
    ),
    Heritage(
        weight=6,
        female=_split(
            "Aisha Maryam Zainab Hafsa Iqra Amina Khadija Noor Sana Hira Alisha Mahnoor Eman Laiba Anaya "
            "Zara Safa Hania"
        ),
        male=_split(
            "Muhammad Ibrahim Yusuf Zayn Hamza Bilal Ayaan Rayyan Zakariya Imran Usman Haris Faisal Adnan "
            "Arham Shahid Danyal Kamran"
        ),
        family=_split(
            "Khan Hussain Ahmed Akhtar Iqbal Mahmood Rashid Butt Malik Bibi Anwar Qureshi Aslam Javed "
            "Nawaz Rehman Sadiq Tariq Mirza Chaudhry"
        ),
        ethnicities=(
            (Ethnicity.ASIAN_PAKISTANI, 80),
            (Ethnicity.ASIAN_BANGLADESHI, 15),
            (Ethnicity.ASIAN_OTHER, 5),
        ),
    ),
    Heritage(
        weight=5,
        female=_split(
            "Adaeze Chidinma Amara Ngozi Folake Temitope Ifeoma Blessing Favour Precious Ama Abena Efua "
            "Akosua Nia Zawadi Wanjiru Imani"
        ),
        male=_split(
            "Chinedu Emeka Tobi Oluwaseun Femi Kwame Kofi Kwabena Yaw Obinna Tunde Chukwuemeka Kayode "
            "Jomo Baraka Tendai Tatenda Farai"
        ),
        family=_split(
            "Okafor Adeyemi Okonkwo Mensah Boateng Asante Owusu Nwosu Eze Balogun Adebayo Osei Kamau "
            "Mwangi Moyo Chikwanha Ndlovu Achieng"
        ),
        ethnicities=((Ethnicity.BLACK_AFRICAN, 90), (Ethnicity.MIXED_WHITE_BLACK_AFRICAN, 10)),
    ),
    Heritage(
        weight=3,
        female=_split("Shanice Jada Tia Kezia Aaliyah Keisha Makayla Tyra Naomi Marcia Janelle Destiny"),
        male=_split("Tyrese Jaden Marcus Kyrie Deshawn Malachi Isaiah Kadeem Jermaine Dwayne Andre Romaine"),
        family=_split(
            "Campbell Francis Bailey Grant Edwards Gordon Reid Bennett Clarke Henry Samuels Thomas Rowe "
            "Simpson Walters"
        ),
        ethnicities=(
            (Ethnicity.BLACK_CARIBBEAN, 60),
            (Ethnicity.MIXED_WHITE_BLACK_CARIBBEAN, 35),
            (Ethnicity.BLACK_OTHER, 5),
        ),
    ),
    Heritage(
        weight=2,
        female=_split("Hodan Ayan Nasra Sagal Fadumo Ifrah Hibo Ubah Deeqa Sahra"),
        male=_split("Abdirahman Mohamed Abdullahi Hassan Yusuf Bashir Guled Liban Said Ahmed"),
        family=_split("Warsame Abdi Farah Osman Jama Hersi Aden Mohamud Nur Ali"),
        ethnicities=((Ethnicity.BLACK_AFRICAN, 95), (Ethnicity.BLACK_OTHER, 5)),
    ),
    Heritage(
        weight=5,
        female=_split("Zofia Julia Maja Zuzanna Natalia Oliwia Wiktoria Alicja Amelia Lena Kinga Weronika"),
        male=_split("Jakub Kacper Szymon Filip Mateusz Bartosz Michal Antoni Wojciech Tymon Dawid Kamil"),
        family=_split(
            "Nowak Kowalski Wisniewski Wojcik Kaminski Lewandowski Zielinski Szymanski Dabrowski Mazur "
            "Krawczyk Piotrowski Grabowski Pawlak"
        ),
        ethnicities=((Ethnicity.WHITE_OTHER, 100),),
    ),
    Heritage(
        weight=3,
        female=_split("Andreea Ioana Maria Elena Bianca Denisa Alexandra Roxana Daria Ana"),
        male=_split("Andrei Alexandru Stefan Ionut Mihai Gabriel Darius Razvan Cristian Vlad"),
        family=_split("Popescu Ionescu Dumitru Stan Gheorghe Rusu Munteanu Matei Constantin Marin"),
        ethnicities=((Ethnicity.WHITE_OTHER, 80), (Ethnicity.WHITE_ROMA, 20)),
    ),
    Heritage(
        weight=2,
        female=_split("Rose Violet Mary Bridget Kathleen Margaret Patience Shannon Tiffany Sherice"),
        male=_split("Johnny Paddy Tom Jimmy Martin Levi Noah Joe Michael Billy"),
        family=_split("Lee Smith Price Boswell Lovell Loveridge Buckley Ward Doran Hanrahan"),
        ethnicities=((Ethnicity.WHITE_GYPSY_TRAVELLER, 85), (Ethnicity.WHITE_IRISH, 15)),
    ),
    Heritage(
        weight=3,
        female=_split("Layla Yasmin Rania Lina Salma Huda Nour Dana Shadi Rojin Hevi Berivan"),
        male=_split("Omar Ali Karim Tariq Samir Hadi Amir Ahmad Rebin Dilan Aram Shwan"),
        family=_split("Haddad Saleh Mansour Nasser Khalil Hamdan Barzani Rasul Karimi Ahmadi Hosseini Aziz"),
        ethnicities=((Ethnicity.OTHER_ARAB, 55), (Ethnicity.OTHER_ANY, 45)),
    ),
    Heritage(
        weight=2,
        female=_split("Mei Xinyi Yuxi Ling Jiayi Wen Hui Lan Hoa Linh"),
        male=_split("Wei Hao Jun Zihan Yichen Ming Bao Tuan Minh Long"),
        family=_split("Wang Li Zhang Chen Liu Yang Huang Zhao Nguyen Tran Pham Le"),
        ethnicities=((Ethnicity.ASIAN_CHINESE, 70), (Ethnicity.ASIAN_OTHER, 30)),
    ),
    Heritage(
        weight=4,
        female=_split("Maya Leila Ruby Aaliyah Nadia Amira Kiara Serena Jasmine Lola Tiana Zoe"),
        male=_split("Elijah Zachary Adam Isaac Tyrell Rocco Mateo Kian Rafael Jay Nathan Elias"),
        family=_split(
            "Ahmed-Wright Campbell-Smith Okafor-Jones Hussain-Taylor Patel-Evans Mensah-Brown Reid-Walker "
            "Singh-Thompson Francis-Hall Mahmood-Clarke Boateng-Lewis Kaur-Wood"
        ),
        ethnicities=(
            (Ethnicity.MIXED_WHITE_BLACK_CARIBBEAN, 35),
            (Ethnicity.MIXED_WHITE_ASIAN, 30),
            (Ethnicity.MIXED_WHITE_BLACK_AFRICAN, 20),
            (Ethnicity.MIXED_OTHER, 15),
        ),
    ),
)

PREFERRED = {
    "Oliver": "Ollie",
    "Alexander": "Alex",
    "Joshua": "Josh",
    "Thomas": "Tom",
    "Isabella": "Bella",
    "Abigail": "Abi",
    "Muhammad": "Mo",
    "Ibrahim": "Ibby",
    "Oluwaseun": "Seun",
    "Chukwuemeka": "Emeka",
    "Abdirahman": "Abdi",
    "Aleksandra": "Ola",
    "Wojciech": "Wojtek",
    "Gurpreet": "Gurp",
    "Elizabeth": "Libby",
    "Zakariya": "Zak",
    "Eleanor": "Ellie",
    "Jaskaran": "Jas",
    "Folake": "Fola",
    "Temitope": "Tope",
}
"""Given names that young people often ask to be called something shorter."""

STREETS = _split(
    "Larkspur Kestrel Hawthorn Marlow Foxglove Wrenfield Sorrel Fenwick Brackenbury Thistle Ashgrove "
    "Linnet Moorhen Saxon Tamworth Wheatley Coppice Heron Meadowsweet Rushmere Oakhurst Beacon Kiln "
    "Fieldfare Brindley Canalside Millrace Tanner Weaver Ropewalk Quarry Harebell Sedge Cobble Tollgate"
)
"""Invented street and place-name stems for addresses and place names."""

STREET_SUFFIXES = ("Road", "Street", "Close", "Avenue", "Lane", "Way", "Crescent", "Drive", "Grove", "Court")
