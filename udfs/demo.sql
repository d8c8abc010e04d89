SELECT p.id, clean_name(p.name) AS name, slug(p.city) AS city, vadd(p.id, p.age) AS id_plus_age,
       money(sum(o.amount)) AS spent, item_count(item_list(string_agg(o.items, ';'))) AS items
FROM people p LEFT JOIN orders o ON o.person_id = p.id
GROUP BY p.id, p.name, p.city, p.age
ORDER BY p.id
